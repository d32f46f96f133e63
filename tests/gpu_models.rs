//! Whole models through the GPU backend against the CPU reference, same
//! seeded input: the largest logit difference stays within 1e-3 of the CPU
//! logit range and every batch row keeps its top-5 (argmax for 2 classes);
//! with f16 weights, within 2e-2 and the same top-1 (`webresnet::bench::parity`,
//! which `webresnet bench --check` holds real devices to as well).
//!
//! ResNet-50 runs with its convs cut as for a GPU (small tiles, split-K)
//! even on an emulator; the others as the adapter's default.
//!
//! Models come from `.cache/models` (`scripts/setup.sh`). A missing model or
//! GPU adapter, or an adapter without `shader-f16` for the f16 runs (the
//! lavapipe that setup installs has it), is a loud skip, or a failure when `CI=true`.

use std::path::PathBuf;
use std::time::Instant;

use webresnet::bench::parity;
use webresnet::cpu::CpuBackend;
use webresnet::gpu::{GpuBackend, Occupancy, Precision};
use webresnet::plan::{CompileOptions, Plan};
use webresnet::Error;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn skip(why: String) {
    if ci() {
        panic!("CI=true: {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPING GPU MODEL TEST: {why} !!!!!!!!\n");
}

fn load(file: &str, input_shape: Option<Vec<usize>>) -> Option<Plan> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models").join(file);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            skip(format!("{} unreadable ({e}); run scripts/setup.sh", path.display()));
            return None;
        }
    };
    Some(webresnet::load_plan(&bytes, &CompileOptions { input_shape }).expect("model compiles"))
}

/// Deterministic values in [-scale, scale).
fn input(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Runs `file` at `input_shape` on both backends and checks the f32 criterion.
fn parity(file: &str, input_shape: Option<Vec<usize>>, scale: f32) {
    parity_at(file, input_shape, scale, Precision::F32, Occupancy::Auto);
}

/// Runs `file` on both backends, the GPU with `precision` weights and its
/// convs cut for `occupancy`, and checks that precision's criterion.
fn parity_at(file: &str, input_shape: Option<Vec<usize>>, scale: f32, precision: Precision, occupancy: Occupancy) {
    let Some(plan) = load(file, input_shape) else { return };
    let x = input(plan.input_len(), 0x5eed ^ plan.input_len() as u64, scale);
    let want = CpuBackend::new(&plan).expect("CPU backend").run(&x).expect("CPU run");

    let t = Instant::now();
    let mut gpu = match GpuBackend::with_options_blocking(&plan, precision, occupancy) {
        Ok(b) if b.precision() == precision => b,
        Ok(b) => return skip(format!("{} gave {:?} weights, not {precision:?}", b.adapter_info(), b.precision())),
        Err(Error::GpuUnavailable(msg)) => return skip(format!("no GPU adapter ({msg})")),
        Err(e) => panic!("{file}: GPU backend failed to load: {e}"),
    };
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got = gpu.run_blocking(&x).expect("GPU run");
    let run_s = t.elapsed().as_secs_f64();
    assert_eq!(got.len(), want.len(), "{file}: output length");
    assert!(got.iter().all(|v| v.is_finite()), "{file}: non-finite GPU logits");
    let (lo, hi) = want.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi > lo, "{file}: constant CPU logits make the check meaningless");

    let classes = *plan.output.shape.last().expect("output rank >= 1");
    let p = parity::compare(&got, &want, classes, precision);
    println!(
        "{file} {:?} {precision:?}: max|gpu-cpu| / CPU logit range {:.2e} (bound {:e}), top-{} {} \
         (GPU load {load_s:.2} s, run {run_s:.2} s, {} pipelines)",
        plan.input.shape,
        p.ratio,
        p.bound,
        p.top_k,
        if p.top_match { "same" } else { "differs" },
        gpu.pipeline_count()
    );
    assert!(p.ratio <= p.bound, "{file}: max diff is {:e} of the logit range, past {:e}", p.ratio, p.bound);
    assert!(p.top_match, "{file}: the top-{} of some batch row differs", p.top_k);
}

#[test]
fn resnet18_224() {
    parity("resnet18.onnx", Some(vec![1, 3, 224, 224]), 1.0);
}

#[test]
fn resnet18_batch2() {
    parity("resnet18.onnx", Some(vec![2, 3, 224, 224]), 1.0);
}

#[test]
fn resnet18_non_square() {
    parity("resnet18.onnx", Some(vec![1, 3, 160, 192]), 1.0);
}

#[test]
fn preact_resnet() {
    parity("preact_resnet.onnx", None, 1.0);
}

#[test]
fn resnext_small_groups() {
    parity("resnext_small.onnx", None, 1.0);
}

#[test]
fn mobilenet_small_depthwise() {
    parity("mobilenet_small.onnx", None, 1.0);
}

/// Real weights, NHWC input in BGR-minus-mean units.
#[test]
fn opennsfw_nhwc() {
    parity("opennsfw.onnx", Some(vec![1, 224, 224, 3]), 120.0);
}

/// Real ImageNet weights from a legacy torch pickle.
#[test]
fn efficientnet_lite0_pth() {
    parity("efficientnet-lite0-57934424.pth", None, 1.0);
}

#[test]
fn resnet50() {
    parity_at("resnet50.onnx", Some(vec![1, 3, 224, 224]), 1.0, Precision::F32, Occupancy::Gpu);
}

#[test]
fn resnet18_f16() {
    parity_at("resnet18.onnx", Some(vec![1, 3, 224, 224]), 1.0, Precision::F16, Occupancy::Auto);
}

#[test]
fn mobilenet_small_f16() {
    parity_at("mobilenet_small.onnx", None, 1.0, Precision::F16, Occupancy::Auto);
}

#[test]
fn efficientnet_lite0_f16() {
    parity_at("efficientnet-lite0-57934424.pth", None, 1.0, Precision::F16, Occupancy::Auto);
}

#[test]
fn resnet50_f16() {
    parity_at("resnet50.onnx", Some(vec![1, 3, 224, 224]), 1.0, Precision::F16, Occupancy::Gpu);
}
