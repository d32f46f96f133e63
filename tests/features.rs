//! `Plan::features` (the compiled plan cut after its global pooling) against
//! the graph cut at the pooling's output value and compiled on its own: two
//! routes to the same features, which must agree. Models come from
//! `.cache/models` (`scripts/setup.sh`); a missing one fails under `CI=true`.

use std::path::PathBuf;

use webresnet::cpu::CpuBackend;
use webresnet::model::{import, Graph, ValueInfo};
use webresnet::plan::{compile, CompileOptions};
use webresnet::Error;

fn graph(file: &str) -> Option<Graph> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models").join(file);
    match std::fs::read(&path) {
        Ok(bytes) => Some(import(&bytes).expect("model imports")),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true: {} unreadable: {e}", path.display()),
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
    let features = compile(&graph, &opts).unwrap().features().unwrap();

    let pool = graph.nodes.iter().rev().find(|n| n.op == "GlobalAveragePool").expect("a GlobalAveragePool node");
    let mut cut = graph.clone();
    cut.outputs = vec![ValueInfo { name: pool.outputs[0].clone(), dims: None }];
    let reference = compile(&cut, &opts).unwrap();

    let batch = features.input.shape[0];
    assert_eq!(features.output.shape, vec![batch, want_features], "{file}");
    assert!(!features.output.is_probability && features.labels.is_none());
    let x = input(features.input_len(), 7);
    let got = CpuBackend::new(&features).unwrap().run(&x).unwrap();
    let want = CpuBackend::new(&reference).unwrap().run(&x).unwrap();
    assert_eq!(got.len(), want.len(), "{file}");
    let range = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_diff = got.iter().zip(&want).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(range > 0.0 && max_diff <= 1e-5 * range, "{file}: max |diff| {max_diff} of range {range}");
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

#[test]
fn no_global_pooling_is_a_shape_error() {
    let Some(graph) = graph("ops_conv_relu6.onnx") else { return };
    let err = compile(&graph, &CompileOptions::default()).unwrap().features().unwrap_err();
    assert!(matches!(err, Error::Shape(_)), "{err:?}");
}
