//! `webresnet bench` end to end, on small inputs: a ResNet-18 built from
//! code, timed on the CPU and on the GPU adapter (lavapipe here), reports
//! positive finite latency and GFLOP/s, a ceiling share in (0, 1.5], and on
//! the GPU logits matching the CPU's; with `--profile`, one timed line per
//! dispatch of the run. A missing GPU adapter is a loud skip, or a failure
//! when `CI=true`.

use std::process::Command;

use serde_json::Value;

/// `webresnet bench` on small inputs: its stdout, or its stderr if it fails.
fn bench_text(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_webresnet"))
        .args(["bench", "--input-shape", "1,3,32,32", "--runs", "2"])
        .args(args)
        .args(if args.contains(&"--arch") { &[][..] } else { &["--arch", "resnet18"] })
        .output()
        .expect("run webresnet");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

fn bench(args: &[&str]) -> Result<Value, String> {
    let out = bench_text(&[args, &["--json"]].concat())?;
    Ok(serde_json::from_str(&out).unwrap_or_else(|e| panic!("bench --json: {e}; stdout: {out}")))
}

/// A GPU case's result, or a loud skip (a failure under `CI=true`) without an adapter.
fn on_gpu<T>(what: &str, r: Result<T, String>) -> Option<T> {
    match r {
        Ok(r) => Some(r),
        Err(e) if e.contains("WEBGPU_UNAVAILABLE") => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: no GPU adapter: {e}");
            eprintln!("\n!!!!!!!! SKIPPING {what}: {e} !!!!!!!!\n");
            None
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

fn positive(v: &Value, key: &str) -> f64 {
    let x = v[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {v}"));
    assert!(x.is_finite() && x > 0.0, "{key} = {x} in {v}");
    x
}

/// Every row: sane times and rates, and a share that is the rate over the ceiling.
fn check_rows(report: &Value, want: &[(u64, &str)]) {
    let ceiling = positive(&report["ceiling"], "gflops");
    let rows = report["rows"].as_array().expect("rows");
    let got: Vec<(u64, &str)> =
        rows.iter().map(|r| (r["batch"].as_u64().unwrap(), r["precision"].as_str().unwrap())).collect();
    assert_eq!(got, want, "cases in {report}");
    for r in rows {
        positive(r, "cold_ms");
        let warm = positive(r, "warm_ms");
        let gflops = positive(r, "gflops");
        let share = positive(r, "share");
        assert!(share <= 1.5, "share {share} of the ceiling in {r}");
        assert!((share - gflops / ceiling).abs() < 1e-9 * share.max(1.0), "share is not GFLOP/s over the ceiling: {r}");
        let macs = r["macs"].as_f64().expect("macs");
        assert!(
            (2.0 * macs / (warm / 1e3) / 1e9 - gflops).abs() < 1e-6 * gflops,
            "GFLOP/s is not 2 x MACs / warm: {r}"
        );
        assert_eq!(r["input_shape"][0].as_u64(), r["batch"].as_u64(), "batch dimension in {r}");
    }
}

#[test]
fn cpu() {
    let report = bench(&["--backend", "cpu", "--batch", "1,2", "--precision", "f32,f16"]).expect("bench on the CPU");
    assert_eq!(report["backend"], "cpu");
    check_rows(&report, &[(1, "f32"), (2, "f32")]);
    // f16 weights are a GPU option: said, not silently dropped.
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(2), "{report}");
    // Twice the batch is twice the work.
    let macs: Vec<f64> = report["rows"].as_array().unwrap().iter().map(|r| r["macs"].as_f64().unwrap()).collect();
    assert_eq!(macs[1], 2.0 * macs[0]);
}

#[test]
fn gpu_with_parity() {
    let args = ["--backend", "gpu", "--batch", "1", "--precision", "f32,f16", "--check"];
    let Some(report) = on_gpu("bench on the GPU", bench(&args)) else { return };
    assert_eq!(report["backend"], "webgpu");
    assert!(report["device"].as_str().is_some_and(|d| !d.is_empty()), "{report}");
    check_rows(&report, &[(1, "f32"), (1, "f16")]);
    for r in report["rows"].as_array().unwrap() {
        assert_eq!(r["parity"]["ok"], true, "GPU vs CPU: {r}");
    }
}

#[test]
fn bad_arguments_are_errors() {
    let err = bench(&["--backend", "cpu", "--arch", "efficientnet_lite0"]).expect_err("not a ResNet");
    assert!(err.contains("INVALID_INPUT"), "{err}");
    let err = bench(&["--backend", "cpu", "--batch", "0"]).expect_err("batch 0");
    assert!(err.contains("INVALID_INPUT"), "{err}");
    let err = bench(&["--backend", "cpu", "--check"]).expect_err("nothing to compare on the CPU");
    assert!(err.contains("INVALID_INPUT"), "{err}");
    let err = bench(&["--backend", "cpu", "--profile"]).expect_err("no GPU dispatches to time");
    assert!(err.contains("INVALID_INPUT") && err.contains("timestamp queries"), "{err}");
    let err = bench(&["--backend", "gpu", "--ceiling-side", "100"]).expect_err("not a multiple of 64");
    assert!(err.contains("INVALID_INPUT"), "{err}");
    let err = bench(&["--backend", "gpu", "--peak-gflops", "0"]).expect_err("no peak");
    assert!(err.contains("INVALID_INPUT"), "{err}");
}

/// `inspect --dispatches` for a built network at batch 1, 224x224: each
/// line's kind, workgroups and k.
fn dispatches(arch: &str) -> Vec<(String, u64, u64)> {
    inspect_dispatches(arch, "1,3,224,224").into_iter().map(|(kind, groups, k, _)| (kind, groups, k)).collect()
}

/// `inspect --dispatches` (for WebGPU's default limits and a GPU's
/// occupancy): each line's kind, workgroups, k and tile.
fn inspect_dispatches(arch: &str, shape: &str) -> Vec<(String, u64, u64, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_webresnet"))
        .args(["inspect", "--arch", arch, "--dispatches", "--input-shape", shape])
        .output()
        .expect("run webresnet");
    assert!(out.status.success(), "inspect: {}", String::from_utf8_lossy(&out.stderr));
    let field = |line: &str, key: &str| {
        let v = line.split(' ').find_map(|w| w.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in {line}"));
        v.to_string()
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("step="))
        .map(|l| {
            let num = |key| field(l, key).parse::<u64>().unwrap_or_else(|e| panic!("{key} in {l}: {e}"));
            (field(l, "kind="), num("workgroups="), num("k="), field(l, "tile="))
        })
        .collect()
}

/// `bench --profile` with a GPU's occupancy on this adapter: its
/// per-dispatch table lists what `inspect --dispatches` reports, each with
/// a positive GPU time and shares summing to 100%; the sums by kind and by
/// stage add up to the same GPU time, and it is set against the round trip.
#[test]
fn gpu_profile_times_every_dispatch() {
    let args = ["--backend", "gpu", "--profile", "--occupancy", "gpu", "--peak-gflops", "1000"];
    let Some(out) = on_gpu("bench --profile", bench_text(&args)) else { return };
    let cells = |l: &str| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect::<Vec<_>>();
    let table = |header: &str| -> Vec<Vec<String>> {
        let start = out.find(header).unwrap_or_else(|| panic!("no table {header} in {out}"));
        out[start..].lines().skip(2).take_while(|l| l.starts_with('|')).map(cells).collect()
    };
    let ms = |c: &str| c.parse::<f64>().unwrap_or_else(|e| panic!("{c}: {e}"));
    let pct = |c: &str| ms(c.trim_end_matches('%'));

    let rows = table("| # | step | stage | kind |");
    let got: Vec<(String, u64, u64, String)> =
        rows.iter().map(|r| (r[3].clone(), ms(&r[4]) as u64, ms(&r[5]) as u64, r[6].clone())).collect();
    assert_eq!(got, inspect_dispatches("resnet18", "1,3,32,32"), "{out}");
    assert!(got.iter().any(|d| d.0 == "reduce"), "a GPU's occupancy splits the deep convs: {out}");
    for r in &rows {
        assert!(ms(&r[8]) > 0.0, "dispatch without GPU time: {r:?}");
    }
    let shares: f64 = rows.iter().map(|r| pct(&r[9])).sum();
    assert!((shares - 100.0).abs() <= 0.05 * rows.len() as f64, "shares sum to {shares}%: {out}");

    let gpu: f64 = rows.iter().map(|r| ms(&r[8])).sum();
    let stages: Vec<String> = table("| stage | dispatches |").iter().map(|r| r[0].clone()).collect();
    assert_eq!(stages, ["stem", "layer1", "layer2", "layer3", "layer4", "head"], "{out}");
    for header in ["| kind | dispatches |", "| stage | dispatches |"] {
        let t = table(header);
        let count: f64 = t.iter().map(|r| ms(&r[1])).sum();
        let total: f64 = t.iter().map(|r| ms(&r[2])).sum();
        assert_eq!(count as usize, rows.len(), "{header}: {out}");
        assert!((total - gpu).abs() <= 1e-3 * t.len() as f64 + 1e-3 * gpu, "{header}: {total} ms vs {gpu} ms");
    }
    let line = out.lines().find(|l| l.starts_with("GPU time ")).unwrap_or_else(|| panic!("no GPU time line: {out}"));
    assert!(line.contains("round trip"), "{line}");
    assert!(out.contains("of FP32 peak"), "{out}");
}

/// Deep convs launch enough workgroups to occupy a large GPU (split-K
/// ranges counted together); the report covers every conv of the plan.
/// The stem reads the NCHW input itself (no layout dispatch) and the head
/// pools the last map itself: one head GEMV over the features, then softmax
/// or nothing, and the only pool left is the stem's max pool.
#[test]
fn deep_convs_fill_the_gpu() {
    for (arch, convs, features) in [("resnet18", 20, 512), ("resnet50", 53, 2048)] {
        let d = dispatches(arch);
        assert!(d.iter().all(|(kind, ..)| kind != "layout"), "{arch}: {d:?}");
        assert_eq!(d.iter().filter(|(kind, ..)| kind == "pool").count(), 1, "{arch}: {d:?}");
        let heads: Vec<_> = d.iter().filter(|(kind, _, k)| kind == "head" && *k == features).collect();
        assert_eq!(heads.len(), 1, "{arch}: {d:?}");
        assert!(heads[0].1 >= 128, "{arch}: the head launches {} workgroups", heads[0].1);
        assert_eq!(d.iter().filter(|(kind, ..)| kind == "conv").count(), convs, "{arch}: {d:?}");
        assert!(d.iter().any(|(kind, ..)| kind == "reduce"), "{arch}: no split-K");
        for (kind, groups, k) in &d {
            if kind == "conv" && *k >= 512 {
                assert!(*groups >= 256, "{arch}: a conv with k = {k} launches {groups} workgroups");
            }
        }
    }
}
