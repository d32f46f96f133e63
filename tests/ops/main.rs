//! One op harness: every case in `cases.rs` on every backend in
//! `backends.rs`, each output checked against the naive interpreter in
//! `reference.rs` (the SIMD kernels against the portable ones).
//!
//! Natively: `cargo test --release --test ops` (portable CPU, WebGPU f32 and
//! f16 on any adapter, e.g. Mesa's lavapipe), with `--features threads` for
//! the threaded CPU path. In Node: `make wasm-test` (SIMD128 and relaxed-SIMD
//! builds under wasm-bindgen-test). A missing GPU adapter or `shader-f16` is a
//! loud skip, or a failure when `CI=true`.

mod backends;
mod batch;
mod build;
mod cases;
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod frames;
mod int8;
mod qdq;
mod reference;
#[cfg(not(target_arch = "wasm32"))]
mod specific;

use backends::{Backend, Failure, Oracle};
use cases::Case;
use webresnet::cpu::Winograd;
use webresnet::Error;

/// A case with its reference output.
struct Checked {
    case: Case,
    want: Vec<f32>,
}

fn checked_cases() -> Vec<Checked> {
    with_references(cases::all())
}

fn with_references(cases: Vec<Case>) -> Vec<Checked> {
    cases
        .into_iter()
        .map(|case| {
            let want = reference::run(&case.plan, &case.data);
            Checked { case, want }
        })
        .collect()
}

/// Why `backend` can't be checked here: a failure under `CI=true`, else a
/// loud skip.
fn unavailable(backend: Backend) -> Option<Vec<String>> {
    let (name, why) = (backend.name(), backend.unavailable()?);
    if std::env::var("CI").as_deref() == Ok("true") {
        return Some(vec![format!("{name}: CI=true: {why}")]);
    }
    eprintln!("\n!!!!!!!! SKIPPING BACKEND {name}: {why} !!!!!!!!\n");
    Some(Vec::new())
}

/// Runs every case on `backend`; returns one line per failed case.
fn check_backend(backend: Backend, cases: &[Checked]) -> Vec<String> {
    let name = backend.name();
    if let Some(skipped) = unavailable(backend) {
        return skipped;
    }
    let start = now_ms();
    let outputs = if backend.batches() { run_batched(backend, cases) } else { run_each(backend, cases) };
    let failures: Vec<String> = cases
        .iter()
        .zip(outputs)
        .filter_map(|(c, got)| check_case(backend, c, got).err().map(|why| format!("{name}: {}: {why}", c.case.name)))
        .collect();
    let passed = cases.len() - failures.len();
    let line = format!("{name}: {passed} of {} cases passed in {:.1} s", cases.len(), (now_ms() - start) / 1e3);
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    println!("{line}");
    failures
}

fn run_each(backend: Backend, cases: &[Checked]) -> Vec<Result<Vec<f32>, Failure>> {
    cases.iter().map(|c| backend.run(&c.case.plan, &c.case.data, c.case.winograd)).collect()
}

/// All cases in one load and run; if that fails, case by case to name the culprit.
fn run_batched(backend: Backend, cases: &[Checked]) -> Vec<Result<Vec<f32>, Failure>> {
    let b = batch::merge(cases.iter().map(|c| (&c.case.plan, &c.case.data[..])));
    // Only the GPU batches, and it has no Winograd choice to make.
    match backend.run(&b.plan, &b.data, Winograd::Auto) {
        Ok(all) => b.outputs.into_iter().map(|r| Ok(all[r].to_vec())).collect(),
        Err(_) => run_each(backend, cases),
    }
}

fn check_case(backend: Backend, c: &Checked, got: Result<Vec<f32>, Failure>) -> Result<(), String> {
    let (plan, data) = (&c.case.plan, &c.case.data);
    if aliases_elementwise(plan) && !backend.aliases_elementwise() {
        return match got {
            Err(Failure::Load(Error::Backend(_))) => Ok(()),
            Err(f) => Err(format!("an elementwise step over its own input should be refused, got: {f}")),
            Ok(_) => Err("an elementwise step over its own input should be refused, but it ran".into()),
        };
    }
    let got = got.map_err(|f| f.to_string())?;
    if c.case.exact {
        let same = got.len() == c.want.len() && got.iter().zip(&c.want).all(|(g, w)| g.to_bits() == w.to_bits());
        return if same { Ok(()) } else { Err("not bit-identical to the reference".into()) };
    }
    // An int8 step is checked against the f32 reference, allowing for its
    // activations' quantization.
    if let Some(bound) = backend.int8_levels().and_then(|levels| int8::error_bound(plan, data, levels)) {
        compare(&got, &c.want, backend.tolerance(), bound)?;
        // Every CPU int8 kernel (SIMD or portable, direct or Winograd)
        // quantizes as the portable ones of the same build do, makes the
        // same i32 sums of the same codes and runs the same f32 epilogue:
        // nothing may differ from the portable direct kernels. (A grouped
        // conv runs on f32 kernels.)
        let rel = if int8::on_int8_kernels(plan) { 0.0 } else { backend.tolerance() };
        let direct = Backend::Portable.run(plan, data, Winograd::Never).map_err(|f| format!("portable direct: {f}"))?;
        return compare(&got, &direct, rel, 0.0).map_err(|e| format!("vs portable direct: {e}"));
    }
    match backend.oracle() {
        Oracle::Reference => compare(&got, &c.want, backend.tolerance(), 0.0),
        Oracle::Portable => compare(&got, &portable(c)?, backend.tolerance(), 0.0),
    }
}

/// The portable kernels' output on `c`: the SIMD kernels' oracle.
fn portable(c: &Checked) -> Result<Vec<f32>, String> {
    Backend::Portable.run(&c.case.plan, &c.case.data, c.case.winograd).map_err(|f| format!("portable oracle: {f}"))
}

/// Whether a step other than Conv (whose in-place residual every backend
/// supports) writes over one of its inputs.
fn aliases_elementwise(plan: &webresnet::plan::Plan) -> bool {
    plan.steps.iter().any(|s| {
        let out = plan.tensors[s.output()].range();
        let conv = matches!(s, webresnet::plan::Step::Conv(_));
        !conv && s.inputs().iter().any(|&i| plan.tensors[i].range() == out)
    })
}

/// Max abs difference within `rel` of the oracle's value range (at least 1),
/// plus `extra`.
fn compare(got: &[f32], want: &[f32], rel: f32, extra: f32) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} values, want {}", got.len(), want.len()));
    }
    let lo = want.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = want.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let tol = rel * (hi - lo).max(1.0) + extra;
    let (at, diff) = got.iter().zip(want).map(|(g, w)| (g - w).abs()).enumerate().fold((0, 0.0f32), |m, (i, d)| {
        if d > m.1 || d.is_nan() {
            (i, d)
        } else {
            m
        }
    });
    if diff <= tol {
        Ok(())
    } else {
        Err(format!("max diff {diff} at {at} (got {}, want {}), tol {tol}", got[at], want[at]))
    }
}

/// Milliseconds since some fixed point (std's `Instant` panics on wasm32-unknown-unknown).
fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Date::now();
    #[cfg(not(target_arch = "wasm32"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

/// The QDQ cases ([`qdq`]): bit for bit on a backend that runs quantize
/// steps; one of them refused as an unsupported model by one that doesn't.
fn check_qdq(backend: Backend, cases: &[Checked]) -> Vec<String> {
    if let Some(skipped) = unavailable(backend) {
        return skipped;
    }
    let checked = if backend.quantizes() { cases } else { &cases[..1] };
    checked
        .iter()
        .filter_map(|c| {
            let got = backend.run(&c.case.plan, &c.case.data, c.case.winograd);
            let verdict = match (backend.quantizes(), got) {
                (true, got) => check_case(backend, c, got),
                (false, Err(Failure::Load(Error::UnsupportedModel(_)))) => Ok(()),
                (false, Err(f)) => Err(format!("should be refused as an unsupported model, got: {f}")),
                (false, Ok(_)) => Err("should be refused as an unsupported model, but it ran".into()),
            };
            verdict.err().map(|why| format!("{}: {}: {why}", backend.name(), c.case.name))
        })
        .collect()
}

fn report(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Each backend on its own thread; the cases and references are shared.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn every_case_on_every_backend() {
    let cases = &checked_cases();
    let failures = std::thread::scope(|s| {
        let runs: Vec<_> = backends::all().into_iter().map(|b| s.spawn(move || check_backend(b, cases))).collect();
        runs.into_iter().flat_map(|r| r.join().expect("backend thread")).collect()
    });
    report(failures);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn qdq_cases_on_every_backend() {
    let cases = &with_references(qdq::cases());
    report(backends::all().into_iter().flat_map(|b| check_qdq(b, cases)).collect());
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn qdq_cases_on_every_backend() {
    let cases = with_references(qdq::cases());
    report(backends::all().into_iter().flat_map(|b| check_qdq(b, &cases)).collect());
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn every_case_on_every_backend() {
    let cases = checked_cases();
    report(backends::all().into_iter().flat_map(|b| check_backend(b, &cases)).collect());
}
