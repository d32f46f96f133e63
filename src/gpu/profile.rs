//! Per-dispatch GPU times from timestamp queries (`webresnet bench
//! --profile`, the browser bench). A profiled run records every dispatch in
//! its own compute pass that writes a timestamp as it starts and ends
//! (WebGPU's `timestamp-query`, in browsers too). Every backend asks for the
//! feature where the adapter offers it, and [`GpuBackend::run`] never records
//! queries: profiling costs a normal run nothing.

use super::{read_mapped, DispatchInfo, GpuBackend, Options};
use crate::error::{Error, Result};
use crate::plan::{Layout, Plan};

/// One dispatch of a profiled run.
#[derive(Clone, Debug)]
pub struct DispatchTime {
    pub info: DispatchInfo,
    /// GPU time from the start of its pass to the end.
    pub seconds: f64,
}

/// A run's dispatches, in order, with their GPU times.
#[derive(Clone, Debug)]
pub struct Profile {
    pub dispatches: Vec<DispatchTime>,
    /// From the first pass's start to the last one's end: the dispatches'
    /// times plus the GPU's gaps between passes.
    pub span_seconds: f64,
}

impl Profile {
    /// Sum of the dispatches' GPU times.
    pub fn gpu_seconds(&self) -> f64 {
        self.dispatches.iter().map(|d| d.seconds).sum()
    }
}

/// Why there are no per-dispatch times on `adapter`.
fn no_timestamps(adapter: &str) -> Error {
    Error::Limit(format!(
        "{adapter} offers no timestamp queries (WebGPU feature `timestamp-query`), \
         which per-dispatch GPU times need; time whole runs instead (bench without --profile)"
    ))
}

impl GpuBackend {
    /// [`GpuBackend::with_options`], for [`GpuBackend::profile`]: fails with
    /// [`Error::Limit`] where the adapter has no `timestamp-query`.
    pub async fn with_timestamps(plan: &Plan, options: Options) -> Result<Self> {
        let backend = Self::with_options(plan, options).await?;
        if !backend.ctx.timestamps {
            return Err(no_timestamps(&backend.ctx.name));
        }
        Ok(backend)
    }

    /// Runs the plan on `input` with a timestamp before and after each
    /// dispatch, and returns each dispatch's GPU time. The passes apart add
    /// little on a GPU (consecutive dispatches on the one arena wait for
    /// each other anyway), but the times are of this run, not of [`GpuBackend::run`].
    pub async fn profile(&mut self, input: &[f32]) -> Result<Profile> {
        if input.len() != self.input_len {
            return Err(Error::InvalidInput(format!("expected {} input values, got {}", self.input_len, input.len())));
        }
        let ctx = &self.ctx;
        if !ctx.timestamps {
            return Err(no_timestamps(&ctx.name));
        }
        let queries = 2 * self.passes.len();
        if queries > wgpu::QUERY_SET_MAX_QUERIES as usize {
            return Err(Error::Limit(format!(
                "{} dispatches need {queries} timestamps; a query set holds {}",
                self.passes.len(),
                wgpu::QUERY_SET_MAX_QUERIES
            )));
        }
        let bytes = (queries * size_of::<u64>()) as u64;
        ctx.health()?;
        let times = ctx
            .checked("recording a profiled run", || {
                let device = &ctx.device;
                let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("dispatch times"),
                    ty: wgpu::QueryType::Timestamp,
                    count: queries as u32,
                });
                let buffer = |usage| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("dispatch times"),
                        size: bytes,
                        usage,
                        mapped_at_creation: false,
                    })
                };
                let resolved = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
                let times = buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
                ctx.queue.write_buffer(&self.arena, self.input_offset, bytemuck::cast_slice(input));
                let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                for (i, p) in self.passes.iter().enumerate() {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &set,
                            beginning_of_pass_write_index: Some(2 * i as u32),
                            end_of_pass_write_index: Some(2 * i as u32 + 1),
                        }),
                    });
                    pass.set_pipeline(&self.pipelines.list[p.pipeline]);
                    pass.set_bind_group(0, &p.bind_group, &[]);
                    pass.dispatch_workgroups(p.groups[0], p.groups[1], p.groups[2]);
                }
                encoder.resolve_query_set(&set, 0..queries as u32, &resolved, 0);
                encoder.copy_buffer_to_buffer(&resolved, 0, &times, 0, bytes);
                ctx.queue.submit([encoder.finish()]);
                times
            })
            .await?;
        let raw = read_mapped(ctx, &times, bytes).await?;
        let ticks: &[u64] = bytemuck::cast_slice(&raw);
        Ok(times_of(ticks, f64::from(ctx.queue.get_timestamp_period()), &self.dispatches))
    }
}

/// `ticks`: a start and an end per dispatch; `period`: nanoseconds per tick.
/// A pass whose end reads before its start (WebGPU allows it) counts as 0.
fn times_of(ticks: &[u64], period: f64, infos: &[DispatchInfo]) -> Profile {
    let secs = |t: u64| t as f64 * period * 1e-9;
    let dispatches = infos
        .iter()
        .zip(ticks.chunks_exact(2))
        .map(|(info, t)| DispatchTime { info: info.clone(), seconds: secs(t[1].saturating_sub(t[0])) })
        .collect();
    let first = ticks.iter().step_by(2).min().copied().unwrap_or(0);
    let last = ticks.iter().skip(1).step_by(2).max().copied().unwrap_or(0);
    Profile { dispatches, span_seconds: secs(last.saturating_sub(first)) }
}

/// The stage of each plan step. Where the tensors carry torchvision's names
/// for the four residual stages (as the importers keep them), the `layerN`
/// in its output's name, else `stem` before the first such step and `head`
/// after them; otherwise its output's resolution (`56x56`), `head` past the
/// last image-shaped output.
pub fn step_stages(plan: &Plan) -> Vec<String> {
    let names: Vec<&str> =
        plan.steps.iter().map(|s| plan.tensors.get(s.output()).map_or("", |t| t.name.as_str())).collect();
    if !names.iter().any(|n| layer(n).is_some()) {
        return plan
            .steps
            .iter()
            .map(|s| match plan.tensors.get(s.output()) {
                Some(t) if t.layout == Layout::Nhwc && t.shape.len() == 4 => format!("{}x{}", t.shape[1], t.shape[2]),
                _ => "head".into(),
            })
            .collect();
    }
    let mut seen = false;
    names
        .iter()
        .map(|n| match layer(n) {
            Some(l) => {
                seen = true;
                l
            }
            None if seen => "head".into(),
            None => "stem".into(),
        })
        .collect()
}

/// `layerN` where `name` holds it as a word (`layer3.1.conv2`, `/layer3/...`).
fn layer(name: &str) -> Option<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.strip_prefix("layer").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        .map(str::to_string)
}

#[cfg(not(target_arch = "wasm32"))]
impl GpuBackend {
    /// [`GpuBackend::with_timestamps`], blocking the current thread.
    pub fn with_timestamps_blocking(plan: &Plan, options: Options) -> Result<Self> {
        pollster::block_on(Self::with_timestamps(plan, options))
    }

    /// [`GpuBackend::profile`], blocking the current thread.
    pub fn profile_blocking(&mut self, input: &[f32]) -> Result<Profile> {
        pollster::block_on(self.profile(input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(step: usize) -> DispatchInfo {
        DispatchInfo { step, kind: "conv", entry: "conv", grid: [1, 1, 1], k: 0, tile: 0, splits: 1 }
    }

    #[test]
    fn ticks_become_seconds_per_dispatch() {
        let p = times_of(&[100, 300, 350, 1350, 1400, 1390], 2.0, &[info(0), info(1), info(2)]);
        for (d, want) in p.dispatches.iter().zip([400e-9, 2000e-9, 0.0]) {
            assert!((d.seconds - want).abs() < 1e-15, "{} s, want {want} s", d.seconds);
        }
        assert!((p.gpu_seconds() - 2400e-9).abs() < 1e-15);
        assert!((p.span_seconds - 2580e-9).abs() < 1e-15);
    }

    #[test]
    fn layer_names() {
        assert_eq!(layer("layer3.1.conv2.out").as_deref(), Some("layer3"));
        assert_eq!(layer("/layer4/layer4.0/relu_2/Relu_output_0").as_deref(), Some("layer4"));
        assert_eq!(layer("conv1.out"), None);
        assert_eq!(layer("layers.out"), None);
        assert_eq!(layer("mylayer2"), None);
    }

    #[test]
    fn the_missing_feature_is_named() {
        let e = no_timestamps("llvmpipe (Vulkan, Cpu)");
        assert_eq!(e.code(), "LIMIT");
        assert!(e.to_string().contains("llvmpipe") && e.to_string().contains("timestamp-query"), "{e}");
    }
}
