//! A backend's `run_features` (the compiled plan run up to its global
//! pooling) against the graph cut at the pooling's output value and compiled
//! on its own: two routes to the same features, which must agree; and the
//! GPU's features against the CPU's. Models come from `.cache/models`
//! (`scripts/setup.sh`); a missing model or GPU adapter fails under `CI=true`.

use std::path::PathBuf;

use webresnet::backend::{Backend, BackendKind};
use webresnet::cpu::CpuBackend;
use webresnet::model::{import, Graph, ValueInfo};
use webresnet::plan::{compile, CompileOptions};
use webresnet::Error;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn graph(file: &str) -> Option<Graph> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models").join(file);
    match std::fs::read(&path) {
        Ok(bytes) => Some(import(&bytes).expect("model imports")),
        Err(e) if ci() => panic!("CI=true: {} unreadable: {e}", path.display()),
        Err(e) => {
            eprintln!(
                "\n!!!!!!!! SKIPPING FEATURES TEST: {} unreadable ({e}); run scripts/setup.sh !!!!!!!!\n",
                path.display()
            );
            None
        }
    }
}

/// Deterministic values in [-2, 2).
fn input(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

fn check(file: &str, shape: Option<Vec<usize>>, want_features: usize) {
    let Some(graph) = graph(file) else { return };
    let opts = CompileOptions { input_shape: shape };
    let plan = compile(&graph, &opts).unwrap();
    let features = plan.features().unwrap();

    let pool = graph.nodes.iter().rev().find(|n| n.op == "GlobalAveragePool").expect("a GlobalAveragePool node");
    let mut cut = graph.clone();
    cut.outputs = vec![ValueInfo { name: pool.outputs[0].clone(), dims: None }];
    let reference = compile(&cut, &opts).unwrap();

    let batch = plan.input.shape[0];
    assert_eq!(features.output.shape, vec![batch, want_features], "{file}");
    assert!(!features.output.is_probability);
    let x = input(plan.input_len(), 7);
    let mut cpu = CpuBackend::new(&plan).unwrap();
    let got = cpu.run_features(&x, &features).unwrap();
    let want = CpuBackend::new(&reference).unwrap().run(&x).unwrap();
    assert_eq!(got.len(), want.len(), "{file}");
    let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(range > 0.0 && max_diff <= 1e-5 * range, "{file}: max |diff| {max_diff} of range {range}");
    // The prefix leaves the backend whole: a full run still gives the logits.
    let logits = cpu.run(&x).unwrap();
    assert_eq!(logits, CpuBackend::new(&plan).unwrap().run(&x).unwrap(), "{file}: logits after features");
}

/// The GPU backend's features (read back from inside its arena) against the
/// CPU's, then its logits: one backend serves both.
fn check_gpu(file: &str, shape: Option<Vec<usize>>) {
    let Some(graph) = graph(file) else { return };
    let plan = compile(&graph, &CompileOptions { input_shape: shape }).unwrap();
    let features = plan.features().unwrap();
    let x = input(plan.input_len(), 11);
    let mut gpu = match Backend::new_blocking(&plan, BackendKind::WebGpu) {
        Ok(g) => g,
        Err(Error::GpuUnavailable(msg)) if !ci() => {
            return eprintln!("\n!!!!!!!! SKIPPING GPU FEATURES TEST: {msg} !!!!!!!!\n")
        }
        Err(e) => panic!("{file}: GPU backend: {e}"),
    };
    let mut cpu = CpuBackend::new(&plan).unwrap();
    for (what, got, want) in [
        ("features", gpu.run_features_blocking(&x, &features).unwrap(), cpu.run_features(&x, &features).unwrap()),
        ("logits", gpu.run_blocking(&x).unwrap(), cpu.run(&x).unwrap()),
    ] {
        assert_eq!(got.len(), want.len(), "{file} {what}");
        let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let max_diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(range > 0.0 && max_diff <= 1e-3 * range, "{file} {what}: max |diff| {max_diff} of range {range}");
    }
}

#[test]
fn efficientnet_lite0_default_model() {
    check("default.wrn", None, 1280);
}

#[test]
fn mobilenet_style() {
    check("mobilenet_small.onnx", None, 640);
}

#[test]
fn resnet18_batch2_odd_size() {
    check("resnet18.onnx", Some(vec![2, 3, 67, 45]), 512);
}

/// 1280 features against 1000 classes: the read-back buffer must grow.
#[test]
fn gpu_efficientnet_lite0_default_model() {
    check_gpu("default.wrn", None);
}

#[test]
fn gpu_resnet18_batch2_odd_size() {
    check_gpu("resnet18.onnx", Some(vec![2, 3, 67, 45]));
}

#[test]
fn features_of_another_plan_are_refused() {
    let (Some(small), Some(big)) = (graph("mobilenet_small.onnx"), graph("resnet18.onnx")) else { return };
    let small = compile(&small, &CompileOptions::default()).unwrap();
    let big = compile(&big, &CompileOptions::default()).unwrap().features().unwrap();
    let x = input(small.input_len(), 3);
    let err = CpuBackend::new(&small).unwrap().run_features(&x, &big).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[test]
fn no_global_pooling_is_a_shape_error() {
    let Some(graph) = graph("ops_conv_relu6.onnx") else { return };
    let err = compile(&graph, &CompileOptions::default()).unwrap().features().unwrap_err();
    assert!(matches!(err, Error::Shape(_)), "{err:?}");
}
