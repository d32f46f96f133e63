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
use webresnet::gpu::{GpuBackend, Occupancy, Options, Precision};
use webresnet::plan::{CompileOptions, Plan, Step};
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

/// `plan` with every int8 step run on the f32 kernels, as the GPU runs them:
/// an int8 file's weights are code × scale in the plan, so this is the same
/// arithmetic as the GPU's, where the CPU's int8 kernels also round the
/// activations to codes.
fn f32_compute(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    for step in &mut plan.steps {
        match step {
            Step::Conv(c) => c.int8 = false,
            Step::Dense(d) => d.int8 = false,
            _ => {}
        }
    }
    plan
}

/// Runs `file` on both backends, the GPU with `precision` weights and its
/// convs cut for `occupancy`, and checks that precision's criterion.
fn parity(file: &str, input_shape: Option<Vec<usize>>, scale: f32, precision: Precision, occupancy: Occupancy) {
    let Some(plan) = load(file, input_shape) else { return };
    let x = input(plan.input_len(), 0x5eed ^ plan.input_len() as u64, scale);
    let want = CpuBackend::new(&f32_compute(&plan)).expect("CPU backend").run(&x).expect("CPU run");

    let t = Instant::now();
    let mut gpu = match GpuBackend::with_options_blocking(&plan, Options { precision, occupancy, ..Options::default() })
    {
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

/// One test per model run, each `name: file, input shape (None: the model's
/// own), input scale, GPU weight precision, conv occupancy;`. ResNet-50 runs
/// the cut for real GPUs (split-K, small tiles), which a CPU adapter would skip.
macro_rules! parity_tests {
    ($($(#[doc = $doc:literal])* $name:ident: $file:literal, $shape:expr, $scale:literal, $precision:ident, $occupancy:ident;)*) => {$(
        $(#[doc = $doc])*
        #[test]
        fn $name() {
            parity($file, $shape, $scale, Precision::$precision, Occupancy::$occupancy);
        }
    )*};
}

parity_tests! {
    resnet18_224: "resnet18.onnx", Some(vec![1, 3, 224, 224]), 1.0, F32, Auto;
    resnet18_batch2: "resnet18.onnx", Some(vec![2, 3, 224, 224]), 1.0, F32, Auto;
    resnet18_non_square: "resnet18.onnx", Some(vec![1, 3, 160, 192]), 1.0, F32, Auto;
    preact_resnet: "preact_resnet.onnx", None, 1.0, F32, Auto;
    resnext_small_groups: "resnext_small.onnx", None, 1.0, F32, Auto;
    mobilenet_small_depthwise: "mobilenet_small.onnx", None, 1.0, F32, Auto;
    /// Real weights, NHWC input in BGR-minus-mean units.
    opennsfw_nhwc: "opennsfw.onnx", Some(vec![1, 224, 224, 3]), 120.0, F32, Auto;
    /// Real ImageNet weights from a legacy torch pickle.
    efficientnet_lite0_pth: "efficientnet-lite0-57934424.pth", None, 1.0, F32, Auto;
    /// The same network with int8 weights (its depthwise and 8 most sensitive
    /// weights in f16): both backends read the version-3 file alike, and the
    /// GPU computes in f32 on the weights it stores.
    efficientnet_lite0_int8: "default-int8.wrn", None, 1.0, F32, Auto;
    resnet50: "resnet50.onnx", Some(vec![1, 3, 224, 224]), 1.0, F32, Gpu;
    resnet18_f16: "resnet18.onnx", Some(vec![1, 3, 224, 224]), 1.0, F16, Auto;
    mobilenet_small_f16: "mobilenet_small.onnx", None, 1.0, F16, Auto;
    efficientnet_lite0_f16: "efficientnet-lite0-57934424.pth", None, 1.0, F16, Auto;
    resnet50_f16: "resnet50.onnx", Some(vec![1, 3, 224, 224]), 1.0, F16, Gpu;
}

/// A model file read as it arrives has its pipelines compiled from its
/// header's shapes (int8 weights and their scales included): the backend
/// built once the weights are in compiles none, holds the same pipelines as
/// one built from scratch, and gives its results bit for bit.
#[test]
fn pipelines_compiled_from_the_header_are_the_ones_the_model_needs() {
    use webresnet::gpu::Prepared;
    use webresnet::model::incoming::Incoming;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models/default-int8.wrn");
    let Ok(bytes) = std::fs::read(&path) else { return skip(format!("{} unreadable", path.display())) };
    let opts = CompileOptions::default();
    let mut incoming = Incoming::new(bytes.len());
    let mut chunks = bytes.chunks(64 << 10);
    let mut received = 0;
    let shapes = loop {
        let c = chunks.next().expect("the header's shapes come before the last chunk");
        incoming.push(c);
        received += c.len();
        if let Some(g) = incoming.shapes() {
            break g;
        }
    };
    assert!(received < bytes.len() / 4, "shapes only after {received} of {} bytes", bytes.len());
    let prepared = match pollster::block_on(Prepared::new(webresnet::plan::compile_owned(shapes, &opts).unwrap())) {
        Ok(p) => p,
        Err(Error::GpuUnavailable(why)) => return skip(why),
        Err(e) => panic!("{e}"),
    };
    let ahead = prepared.pipeline_count();
    chunks.for_each(|c| incoming.push(c));
    let (_, graph) = incoming.finish().expect("the whole file arrived");
    let plan = webresnet::plan::compile_owned(graph, &opts).unwrap();
    let mut warm = pollster::block_on(GpuBackend::from_prepared(&plan, prepared)).unwrap();
    let mut cold = GpuBackend::new_blocking(&plan).unwrap();
    assert_eq!(warm.pipelines_compiled_at_build(), 0);
    assert_eq!(cold.pipelines_compiled_at_build(), cold.pipeline_count());
    assert_eq!((ahead, warm.pipeline_count()), (cold.pipeline_count(), cold.pipeline_count()));
    let x = input(plan.input_len(), 7, 1.0);
    let (a, b) = (warm.run_blocking(&x).unwrap(), cold.run_blocking(&x).unwrap());
    assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "results differ");
}
