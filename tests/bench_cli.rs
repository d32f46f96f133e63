//! `webresnet bench` end to end, on small inputs: a ResNet-18 built from
//! code, timed on the CPU and on the GPU adapter (lavapipe here), reports
//! positive finite latency and GFLOP/s, a ceiling share in (0, 1.5], and on
//! the GPU logits matching the CPU's. A missing GPU adapter is a loud skip,
//! or a failure when `CI=true`.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_webresnet"))
        .args(["bench", "--input-shape", "1,3,32,32", "--runs", "2", "--json"])
        .args(args)
        .args(if args.contains(&"--arch") { &[][..] } else { &["--arch", "resnet18"] })
        .output()
        .expect("run webresnet");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(stderr);
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bench --json: {e}; stderr: {stderr}")))
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
    let report = match bench(&["--backend", "gpu", "--batch", "1", "--precision", "f32,f16", "--check"]) {
        Ok(r) => r,
        Err(e) if e.contains("WEBGPU_UNAVAILABLE") => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: no GPU adapter: {e}");
            return eprintln!("\n!!!!!!!! SKIPPING GPU BENCH TEST: {e} !!!!!!!!\n");
        }
        Err(e) => panic!("bench on the GPU: {e}"),
    };
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
}

/// `inspect --dispatches` for a built network at batch 1, 224x224: each
/// line's kind, workgroups and k.
fn dispatches(arch: &str) -> Vec<(String, u64, u64)> {
    let out = Command::new(env!("CARGO_BIN_EXE_webresnet"))
        .args(["inspect", "--arch", arch, "--dispatches", "--input-shape", "1,3,224,224"])
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
            (field(l, "kind="), num("workgroups="), num("k="))
        })
        .collect()
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
