//! Native GPU benchmark (`make bench-gpu-native`): the adapter's ceiling
//! from a tiled 512^3 WGSL matmul, then ResNet-50 batch-1 inference through
//! `GpuBackend` against it (f32 weights, then f16 where the adapter has
//! `shader-f16`), and the slowest steps timed one by one.
//!
//! Usage: `cargo bench --bench gpu_native [-- MODEL.onnx]` (default
//! `.cache/models/resnet50.onnx`). `RUNS` sets the timed runs (default 5).

use std::time::Instant;

use webresnet::gpu::{GpuBackend, Precision};
use webresnet::plan::CompileOptions;

const N: u32 = 512;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median GFLOP/s of the matmul probe on the default adapter.
fn matmul_ceiling(runs: usize) -> Result<(f64, String), String> {
    use wgpu::util::DeviceExt;
    pollster::block_on(async {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("no adapter: {e}"))?;
        let f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
        let name = format!("{} (shader-f16: {})", adapter.get_info().name, if f16 { "yes" } else { "no" });
        let (device, queue) =
            adapter.request_device(&wgpu::DeviceDescriptor::default()).await.map_err(|e| e.to_string())?;
        let n = (N * N) as usize;
        let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let storage = |read_only_data: bool| {
            let usage = wgpu::BufferUsages::STORAGE;
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&data),
                usage: if read_only_data { usage } else { usage | wgpu::BufferUsages::COPY_SRC },
            })
        };
        let (a, b, c) = (storage(true), storage(true), storage(false));
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("matmul"),
            source: wgpu::ShaderSource::Wgsl(include_str!("matmul.wgsl").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("matmul"),
            layout: None,
            module: &module,
            entry_point: Some("matmul"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("N", f64::from(N))],
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: a.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: b.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: c.as_entire_binding() },
            ],
        });
        let mut times = Vec::new();
        // One warm-up, then timed runs; each is one submit waited to completion.
        for i in 0..=runs {
            let t = Instant::now();
            let mut enc = device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(N / 64, N / 64, 1);
            }
            queue.submit([enc.finish()]);
            device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| e.to_string())?;
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        let flops = 2.0 * f64::from(N).powi(3);
        Ok((flops / median(times) / 1e9, name))
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let model = args
        .first()
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/models/resnet50.onnx").into());
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);

    let (ceiling, adapter) = match matmul_ceiling(10) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-gpu-native: {e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {adapter}");
    println!("matmul {N}^3 ceiling: {ceiling:.2} GFLOP/s");

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
