//! Native GPU benchmark (`make bench-gpu-native`): the adapter's ceiling
//! from a tiled WGSL matmul (the library's, as `webresnet bench` uses), then
//! ResNet-50 batch-1 inference through `GpuBackend` against it (f32 weights, then f16 where the adapter has
//! `shader-f16`), and the slowest steps timed one by one.
//!
//! Usage: `cargo bench --bench gpu_native [-- MODEL.onnx]` (default
//! `.cache/models/resnet50.onnx`). `RUNS` sets the timed runs (default 5).

use std::time::Instant;

use webresnet::gpu::{GpuBackend, Precision};
use webresnet::plan::CompileOptions;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let model = args
        .first()
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/resnet50.onnx").into());
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);

    let ceiling = match webresnet::gpu::matmul_ceiling_blocking(10, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-gpu-native: {e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {} (shader-f16: {})", ceiling.adapter, if ceiling.shader_f16 { "yes" } else { "no" });
    println!("matmul {0}^3 ceiling: {1:.2} GFLOP/s", ceiling.side, ceiling.gflops);
    let ceiling = ceiling.gflops;

    let bytes = std::fs::read(&model).unwrap_or_else(|e| panic!("{model}: {e} (run scripts/setup.sh)"));
    let t = Instant::now();
    let mut plan = webresnet::load_plan(&bytes, &CompileOptions::default()).expect("model compiles");
    if plan.input.shape[0] != 1 {
        let shape = [&[1], &plan.input.shape[1..]].concat();
        plan = webresnet::load_plan(&bytes, &CompileOptions { input_shape: Some(shape) }).expect("model compiles");
    }
    println!("{model}: import + plan {:.2} s", t.elapsed().as_secs_f64());
    let x: Vec<f32> = (0..plan.input_len()).map(|i| ((i * 31) % 255) as f32 / 255.0 - 0.5).collect();
    let mut gpu = None;
    for want in [Precision::F32, Precision::F16] {
        let t = Instant::now();
        let mut g = GpuBackend::with_precision_blocking(&plan, want).expect("GPU backend");
        let load = t.elapsed().as_secs_f64();
        if g.precision() != want {
            println!("{want:?} weights: not offered by this adapter");
            continue;
        }
        let t = Instant::now();
        g.run_blocking(&x).expect("GPU run");
        let first = t.elapsed().as_secs_f64();
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                g.run_blocking(&x).expect("GPU run");
                t.elapsed().as_secs_f64()
            })
            .collect();
        let lat = median(times);
        let gflops = 2.0 * plan.macs() as f64 / lat / 1e9;
        println!(
            "{want:?} weights {:?}: load {load:.2} s, first run {first:.2} s, median of {runs} {:.1} ms, \
             {gflops:.2} GFLOP/s ({:.0}% of the matmul ceiling; target >= 50%), {} pipelines",
            plan.input.shape,
            lat * 1e3,
            100.0 * gflops / ceiling,
            g.pipeline_count()
        );
        gpu.get_or_insert(g);
    }
    let mut gpu = gpu.expect("the f32 backend loaded");

    // Where the time goes (f32 weights): every step submitted and waited on alone.
    let secs = gpu.step_seconds_blocking(&x).expect("GPU profile");
    let total: f64 = secs.iter().sum();
    let mut rows: Vec<(f64, usize)> = secs.iter().copied().zip(0..).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("steps one by one: {:.1} ms in all; slowest:", total * 1e3);
    for &(s, i) in rows.iter().take(12) {
        let step = &plan.steps[i];
        let macs = step.macs(&plan.tensors);
        let desc = match step {
            webresnet::plan::Step::Conv(c) => format!(
                "{}x{} s{} g{} {}->{}",
                c.kernel[0], c.kernel[1], c.stride[0], c.groups, c.in_channels, c.out_channels
            ),
            _ => String::new(),
        };
        println!(
            "  #{i:<3} {:<10} {desc:<22} out {:?} {:6.1} ms {:6.2} GFLOP/s",
            step.kind(),
            plan.tensors[step.output()].shape,
            s * 1e3,
            2.0 * macs as f64 / s / 1e9
        );
    }
}
