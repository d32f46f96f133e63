//! Device benchmark (`webresnet bench`): a model's cold and warm latency on
//! one backend, its effective GFLOP/s, and their share of a ceiling measured
//! on the same device (a tiled WGSL matmul on the GPU, the CPU path's GEMM
//! on the CPU), with an optional GPU-vs-CPU parity check and, with
//! timestamp queries, each GPU dispatch's time.

mod ceiling;
pub mod parity;
pub mod profile;
mod random;
mod report;

use std::time::Instant;

pub use ceiling::cpu_gemm_gflops;
pub use parity::Parity;
pub use profile::RowProfile;
pub use random::graph as random_graph;
pub use report::{json, markdown};

pub use crate::backend::BackendKind;
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::{self, GpuBackend, Occupancy, Precision};
use crate::model::Graph;
use crate::plan::{compile, CompileOptions, Plan};

pub fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
    }
}

pub struct Options {
    pub backend: BackendKind,
    pub batches: Vec<usize>,
    pub precisions: Vec<Precision>,
    /// Timed warm runs per case; the median is reported.
    pub runs: usize,
    /// Full input shape in the model's layout; its batch dimension is
    /// replaced by each of `batches`. `None`: the declared shape.
    pub input_shape: Option<Vec<usize>>,
    /// Run the CPU backend on the same input and compare (GPU backend only).
    pub check: bool,
    /// Also time each dispatch with timestamp queries, over `runs` more runs (GPU backend only).
    pub profile: bool,
    /// How the GPU backend cuts the conv layers.
    pub occupancy: Occupancy,
    /// Side of the GPU ceiling's matmul; `None`: by the adapter (see [`crate::gpu::matmul_ceiling_blocking`]).
    pub ceiling_side: Option<u32>,
    /// The device's FP32 peak as its vendor states it, in GFLOP/s.
    pub peak_gflops: Option<f64>,
}

/// What the model is measured against.
#[derive(Debug, Clone)]
pub struct Ceiling {
    pub what: String,
    pub device: String,
    pub gflops: f64,
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Row {
    pub model: String,
    pub batch: usize,
    pub precision: Precision,
    pub input_shape: Vec<usize>,
    /// Building the backend (device, pipelines, weight upload or packing) and the first run.
    pub cold_ms: f64,
    /// Median of the warm runs.
    pub warm_ms: f64,
    pub macs: u64,
    pub gflops: f64,
    /// `gflops` over the ceiling's.
    pub share: f64,
    /// `gflops` over the stated FP32 peak, where one was given.
    pub peak_share: Option<f64>,
    pub parity: Option<Parity>,
    /// Per-dispatch GPU times; `warm_ms` is the round trip they compare with.
    pub profile: Option<RowProfile>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub backend: BackendKind,
    pub runs: usize,
    pub ceiling: Ceiling,
    /// The stated FP32 peak, GFLOP/s.
    pub peak_gflops: Option<f64>,
    pub rows: Vec<Row>,
    /// Cases not run, and why.
    pub skipped: Vec<String>,
}

/// Deterministic input values in [-1, 1).
fn input(n: usize, seed: u64) -> Vec<f32> {
    crate::seeded::Rng::new(seed).vec(n, 1.0)
}

fn median_ms(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] * 1e3
}

/// An empty report for `opts.backend`, with the ceiling measured.
pub fn start(opts: &Options) -> Result<Report> {
    if opts.batches.is_empty() || opts.precisions.is_empty() || opts.batches.contains(&0) {
        return Err(Error::InvalidInput("bench needs batch sizes of at least 1 and a precision".into()));
    }
    if opts.check && opts.backend != BackendKind::WebGpu {
        return Err(Error::InvalidInput(
            "--check compares the GPU's outputs with the CPU's: it needs the GPU backend".into(),
        ));
    }
    if opts.profile && opts.backend != BackendKind::WebGpu {
        return Err(Error::InvalidInput(
            "--profile times GPU dispatches with timestamp queries: it needs the GPU backend".into(),
        ));
    }
    if opts.peak_gflops.is_some_and(|p| !(p.is_finite() && p > 0.0)) {
        return Err(Error::InvalidInput("--peak-gflops must be a positive number".into()));
    }
    let runs = opts.runs.max(1);
    let ceiling = match opts.backend {
        BackendKind::WebGpu => {
            let c = crate::gpu::matmul_ceiling_blocking(runs.max(10), opts.ceiling_side)?;
            Ceiling { what: format!("WGSL matmul {0}x{0}x{0}", c.side), device: c.adapter, gflops: c.gflops }
        }
        BackendKind::Cpu => Ceiling {
            what: "CPU GEMM 512x512x512".into(),
            device: "CPU (portable kernels, 1 thread)".into(),
            gflops: cpu_gemm_gflops(runs.max(20))?,
        },
    };
    Ok(Report { backend: opts.backend, runs, ceiling, peak_gflops: opts.peak_gflops, rows: vec![], skipped: vec![] })
}

/// Adds every batch x precision case of `graph` (named `model`) to
/// `report`, calling `progress` after each.
pub fn run(
    report: &mut Report,
    model: &str,
    graph: &Graph,
    opts: &Options,
    mut progress: impl FnMut(&Row),
) -> Result<()> {
    let runs = report.runs;
    for &batch in &opts.batches {
        let plan = plan_for(graph, opts.input_shape.as_deref(), batch)?;
        let x = input(plan.input_len(), 0x5eed ^ batch as u64);
        let mut reference = None;
        for &precision in &opts.precisions {
            if opts.backend == BackendKind::Cpu && precision != Precision::F32 {
                report
                    .skipped
                    .push(format!("{model} batch {batch} {}: the CPU path computes in f32", precision_name(precision)));
                continue;
            }
            let Some((mut row, got)) = measure(&plan, &x, opts, precision, runs)? else {
                let name = precision_name(precision);
                report.skipped.push(format!("{model} batch {batch} {name}: the adapter runs no {name} weights"));
                continue;
            };
            row.model = model.into();
            row.share = row.gflops / report.ceiling.gflops;
            row.peak_share = report.peak_gflops.map(|p| row.gflops / p);
            if opts.check {
                let want = match &reference {
                    Some(r) => r,
                    None => reference.insert(CpuBackend::new(&plan)?.run(&x)?),
                };
                let classes = plan.output.shape.last().copied().unwrap_or(1);
                row.parity = Some(parity::compare(&got, want, classes, precision));
            }
            progress(&row);
            report.rows.push(row);
        }
    }
    Ok(())
}

/// `graph` planned for `batch` inputs of its declared (or the given) shape.
fn plan_for(graph: &Graph, input_shape: Option<&[usize]>, batch: usize) -> Result<Plan> {
    let mut shape = match input_shape {
        Some(s) => s.to_vec(),
        None => compile(graph, &CompileOptions::default())?.input.shape,
    };
    if shape.is_empty() {
        return Err(Error::InvalidInput("the input shape needs a batch dimension".into()));
    }
    shape[0] = batch;
    compile(graph, &CompileOptions { input_shape: Some(shape) })
}

/// Times one case, returning its first output too; `None` where the
/// adapter cannot run the precision (no `shader-f16`, or weights past f16's range).
fn measure(
    plan: &Plan,
    x: &[f32],
    opts: &Options,
    precision: Precision,
    runs: usize,
) -> Result<Option<(Row, Vec<f32>)>> {
    enum Built {
        Cpu(CpuBackend),
        Gpu(Box<GpuBackend>),
    }
    let backend = opts.backend;
    let start = Instant::now();
    let mut built = match backend {
        BackendKind::Cpu => Built::Cpu(CpuBackend::new(plan)?),
        BackendKind::WebGpu => {
            let options = gpu::Options { precision, occupancy: opts.occupancy, ..gpu::Options::default() };
            let g = if opts.profile {
                GpuBackend::with_timestamps_blocking(plan, options)?
            } else {
                GpuBackend::with_options_blocking(plan, options)?
            };
            if g.precision() != precision {
                return Ok(None);
            }
            Built::Gpu(Box::new(g))
        }
    };
    let mut once = || match &mut built {
        Built::Cpu(b) => b.run(x),
        Built::Gpu(b) => b.run_blocking(x),
    };
    let out = once()?;
    let cold_ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.iter().all(|v| v.is_finite()) {
        return Err(Error::Backend(format!("{} backend gave non-finite outputs", backend.name())));
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        once()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let warm_ms = median_ms(times);
    let profile = match &mut built {
        Built::Gpu(b) if opts.profile => Some(profile::measure(b, plan, x, runs)?),
        _ => None,
    };
    let macs = plan.macs();
    let row = Row {
        model: String::new(),
        batch: plan.input.shape[0],
        precision,
        input_shape: plan.input.shape.clone(),
        cold_ms,
        warm_ms,
        macs,
        gflops: 2.0 * macs as f64 / (warm_ms / 1e3) / 1e9,
        share: 0.0,
        peak_share: None,
        parity: None,
        profile,
    };
    Ok(Some((row, out)))
}
