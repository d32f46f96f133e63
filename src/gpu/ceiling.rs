//! The adapter's compute ceiling: GFLOP/s of a tiled WGSL matmul
//! (`shaders/matmul.wgsl`), the best case the conv kernels, tiled the same
//! way, can approach. Opened like the backend's device, so it measures the
//! adapter the backend runs on.

use std::time::{Duration, Instant};

use super::context::{Context, Wanted};
use crate::error::{Error, Result};

/// Matrix side of the first probe on a CPU adapter; it doubles while one
/// run is shorter than [`MIN_RUN`], so the run is work, not submit overhead.
const FIRST_SIDE: u32 = 512;
/// Side on a GPU: a GEMM large enough to occupy every compute unit of a
/// big GPU many times over, which a 512³ one does not.
const MAX_SIDE: u32 = 4096;
const MIN_RUN: Duration = Duration::from_millis(20);

/// The measured ceiling and the adapter it ran on.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub gflops: f64,
    /// Side of the square matrices of the timed runs.
    pub side: u32,
    pub adapter: String,
    pub shader_f16: bool,
}

/// GFLOP/s of the fastest of `runs` matmuls after a warm-up, on the default
/// adapter: other work on the machine only ever slows a run down. `side`:
/// the matrices' side, a multiple of 64 up to [`MAX_SIDE`]; `None` picks
/// [`MAX_SIDE`] on a GPU and, on a CPU adapter (an emulator, for which that
/// takes minutes), the smallest side from [`FIRST_SIDE`] whose run is long enough to time.
pub fn matmul_ceiling_blocking(runs: usize, side: Option<u32>) -> Result<Ceiling> {
    if let Some(s) = side {
        if s == 0 || s % 64 != 0 || s > MAX_SIDE {
            return Err(Error::InvalidInput(format!(
                "a ceiling side of {s}: it must be a multiple of 64 up to {MAX_SIDE}"
            )));
        }
    }
    let ctx = pollster::block_on(Context::new(0, 0, Wanted { f16: true, ..Wanted::default() }))?;
    // Three square matrices of f32, each in one binding.
    let most = ((ctx.limits.max_storage_buffer_binding_size / 4).isqrt() as u32 / 64 * 64).min(MAX_SIDE);
    let side = match side {
        Some(s) if s > most => {
            return Err(Error::Limit(format!("a ceiling side of {s} needs larger storage bindings than the device's")))
        }
        Some(s) => s,
        None if !ctx.cpu => most,
        None => {
            let mut side = FIRST_SIDE.min(most);
            while side * 2 <= most && time_matmul(&ctx, side, 1)?[0] < MIN_RUN {
                side *= 2;
            }
            side
        }
    };
    let fastest = time_matmul(&ctx, side, runs.max(1))?.into_iter().min().unwrap_or(MIN_RUN).as_secs_f64();
    Ok(Ceiling {
        gflops: 2.0 * f64::from(side).powi(3) / fastest / 1e9,
        side,
        adapter: ctx.name.clone(),
        shader_f16: ctx.f16,
    })
}

/// Wall time of `runs` matmuls of side `side` (a multiple of 64), each one
/// submit waited to completion, after one untimed run.
fn time_matmul(ctx: &Context, side: u32, runs: usize) -> Result<Vec<Duration>> {
    use wgpu::util::DeviceExt;
    let device = &ctx.device;
    let n = (side * side) as usize;
    let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let (pipeline, bind) = pollster::block_on(ctx.checked("creating the matmul probe", || {
        let buffer = |usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("matmul"),
                contents: bytemuck::cast_slice(&data),
                usage,
            })
        };
        let buffers =
            [wgpu::BufferUsages::STORAGE, wgpu::BufferUsages::STORAGE, wgpu::BufferUsages::STORAGE].map(buffer);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("matmul"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/matmul.wgsl").into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("matmul"),
            layout: None,
            module: &module,
            entry_point: Some("matmul"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("N", f64::from(side))],
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        (pipeline, bind)
    }))?;
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t = Instant::now();
        let mut enc = device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(side / 64, side / 64, 1);
        }
        ctx.queue.submit([enc.finish()]);
        device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Backend(format!("matmul probe: {e}")))?;
        ctx.health()?;
        if i > 0 {
            times.push(t.elapsed());
        }
    }
    Ok(times)
}
