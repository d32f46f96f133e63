//! Portable CPU backend: the numerical reference for every other backend.
//!
//! [`CpuBackend::new`] validates every step against the plan's tensors and
//! packs weights once into per-step kernels; [`CpuBackend::run`] then executes
//! them in order over one owned f32 arena.
//!
//! Two kernel sets ([`Kernels`]): portable Rust everywhere, and wasm SIMD128
//! kernels (`simd/`) in wasm32 builds with `+simd128`, tested against it.
//! Convs and dense layers an int8 model file stored run on int8 kernels (`int8/`).

mod conv;
mod dense;
mod elementwise;
pub(crate) mod gemm;
mod int8;
mod layout;
mod par;
mod pool;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;
mod window;
mod winograd;

use std::ops::Range;

use crate::error::{Error, Result};
use crate::plan::{Features, Plan, Step, TensorId, TensorInfo};
pub use int8::{fused_dot as fused_int8_dot, use_fused_dot as use_fused_int8_dot};
pub use winograd::Variant as WinogradVariant;

/// A prepared step: validated shapes, packed weights, resolved arena ranges.
trait Kernel {
    /// Runs the step over the arena; `scratch` is shared, reusable workspace
    /// of at least [`Kernel::scratch_len`] elements.
    fn run(&self, arena: &mut [f32], scratch: &mut [f32]) -> Result<()>;

    fn scratch_len(&self) -> usize {
        0
    }
}

/// Which kernels a backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// Portable Rust (the `matrixmultiply` GEMM): the numerical reference.
    Portable,
    /// wasm SIMD128: packed-weight GEMM microkernels, indirect conv, depthwise.
    /// Only in wasm32 builds with `+simd128`.
    Simd128,
}

impl Kernels {
    /// The fastest set compiled into this build.
    pub fn best() -> Self {
        if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            Kernels::Simd128
        } else {
            Kernels::Portable
        }
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn unavailable() -> Error {
        Error::Backend("SIMD128 kernels are only compiled into wasm32 builds with +simd128".into())
    }
}

/// Which 3x3 convs run as Winograd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Winograd {
    /// Per layer: f32 convs where the cost model says it pays, within a
    /// weight budget; int8 convs where it measured faster (always F(2x2, 3x3)).
    #[default]
    Auto,
    /// Every conv that can, with this variant (int8 convs with their own
    /// exact F(2x2, 3x3)): lets tests reach a variant on shapes the choice
    /// would not give it.
    Every(WinogradVariant),
    /// None: the direct kernels everywhere, the oracle for Winograd's.
    Never,
}

pub struct CpuBackend {
    arena: Vec<f32>,
    scratch: Vec<f32>,
    kernels: Vec<Box<dyn Kernel>>,
    input: Range<usize>,
    output: Range<usize>,
    /// Every tensor's place in the arena, for reads other than the output.
    ranges: Vec<Range<usize>>,
}

impl CpuBackend {
    /// Packs the plan's weights once for the fastest kernels in this build;
    /// allocates the activation arena.
    pub fn new(plan: &Plan) -> Result<Self> {
        Self::with_kernels(plan, Kernels::best())
    }

    /// As [`CpuBackend::new`], with a chosen kernel set.
    pub fn with_kernels(plan: &Plan, kernels: Kernels) -> Result<Self> {
        Self::with_winograd(plan, kernels, Winograd::Auto)
    }

    /// As [`CpuBackend::with_kernels`], with a chosen use of Winograd.
    pub fn with_winograd(plan: &Plan, kernels: Kernels, wino: Winograd) -> Result<Self> {
        let tensors = Tensors { infos: &plan.tensors, arena_len: plan.arena_len };
        let input = tensors.sized(plan.input.tensor, plan.input_len(), "input")?;
        let output = tensors.sized(plan.output.tensor, plan.output_len(), "output")?;
        let variants = match wino {
            Winograd::Auto => winograd::choose(&plan.steps, |c| tensors.nhwc(c.output).ok()),
            Winograd::Every(v) => winograd::every(&plan.steps, v),
            Winograd::Never => vec![None; plan.steps.len()],
        };
        let kernels = plan
            .steps
            .iter()
            .zip(variants)
            .enumerate()
            .map(|(i, (step, variant))| {
                check_overlap(step, &tensors)
                    .and_then(|()| prepare(step, &tensors, kernels, wino, variant))
                    .map_err(|e| Error::Backend(format!("step {i} ({}): {e}", step.kind())))
            })
            .collect::<Result<Vec<_>>>()?;
        let scratch_len = kernels.iter().map(|k| k.scratch_len()).max().unwrap_or(0);
        Ok(CpuBackend {
            arena: vec![0.0; plan.arena_len],
            scratch: vec![0.0; scratch_len],
            kernels,
            input: input.range(),
            output: output.range(),
            ranges: plan.tensors.iter().map(TensorInfo::range).collect(),
        })
    }

    /// `input`: `plan.input_len()` f32 in the model's declared input layout.
    /// Returns `plan.output_len()` f32 (logits, or probabilities if the model ends in Softmax).
    pub fn run(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        self.run_steps(input, self.kernels.len())?;
        Ok(self.arena[self.output.clone()].to_vec())
    }

    /// Runs only the steps before `features` (of this backend's plan) and
    /// returns the pooled features, `[n, channels]`.
    pub fn run_features(&mut self, input: &[f32], features: &Features) -> Result<Vec<f32>> {
        let range = self
            .ranges
            .get(features.output.tensor)
            .filter(|r| r.end <= self.arena.len() && r.len() == features.output.shape.iter().product::<usize>())
            .cloned();
        let Some(range) = range.filter(|_| features.steps <= self.kernels.len()) else {
            return Err(Error::InvalidInput("the features are not of this backend's plan".into()));
        };
        self.run_steps(input, features.steps)?;
        Ok(self.arena[range].to_vec())
    }

    /// Runs the first `steps` kernels on `input`.
    fn run_steps(&mut self, input: &[f32], steps: usize) -> Result<()> {
        if input.len() != self.input.len() {
            return Err(Error::InvalidInput(format!(
                "input has {} values, the model expects {}",
                input.len(),
                self.input.len()
            )));
        }
        self.arena[self.input.clone()].copy_from_slice(input);
        for kernel in &self.kernels[..steps] {
            kernel.run(&mut self.arena, &mut self.scratch)?;
        }
        Ok(())
    }
}

fn prepare(
    step: &Step,
    t: &Tensors,
    kernels: Kernels,
    wino: Winograd,
    variant: Option<winograd::Variant>,
) -> Result<Box<dyn Kernel>> {
    Ok(match step {
        Step::Conv(c) if int8::runs_conv(c) => Box::new(int8::Int8Kernel::conv(c, t, kernels, wino)?),
        Step::Conv(c) => Box::new(conv::ConvKernel::new(c, t, kernels, variant)?),
        Step::Pool(p) => Box::new(pool::PoolKernel::new(p, t)?),
        Step::GlobalAvgPool { input, output } => Box::new(pool::GlobalAvgPoolKernel::new(*input, *output, t)?),
        Step::Dense(d) if int8::runs_dense(d) => Box::new(int8::Int8Kernel::dense(d, t, kernels)?),
        Step::Dense(d) => Box::new(dense::DenseKernel::new(d, t, kernels)?),
        Step::Affine(a) => Box::new(elementwise::AffineKernel::new(a, t)?),
        Step::Quantize(q) if q.of.is_some() => Box::new(int8::QLinearKernel::new(q, t)?),
        Step::Quantize(q) => Box::new(elementwise::QuantizeKernel::new(q, t)?),
        Step::Add { a, b, output, activation } => {
            Box::new(elementwise::AddKernel::new(*a, *b, *output, *activation, t)?)
        }
        Step::Softmax { input, output } => Box::new(elementwise::SoftmaxKernel::new(*input, *output, t)?),
        Step::Permute { input, output, in_shape, perm } => {
            Box::new(layout::PermuteKernel::new(*input, *output, in_shape, perm, t)?)
        }
        Step::Pad { input, output, pads, value } => Box::new(layout::PadKernel::new(*input, *output, pads, *value, t)?),
    })
}

/// Inputs must not overlap the output, except a Conv's in-place residual
/// (exactly the output's range), which the conv kernel reads before writing.
fn check_overlap(step: &Step, t: &Tensors) -> Result<()> {
    let out = t.get(step.output())?.range();
    for id in step.inputs() {
        let r = t.get(id)?.range();
        let overlaps = !r.is_empty() && !out.is_empty() && r.start < out.end && out.start < r.end;
        let in_place = r == out && matches!(step, Step::Conv(c) if c.residual == Some(id));
        if overlaps && !in_place {
            return Err(Error::Backend(format!("input '{}' overlaps the output in the arena", t.get(id)?.name)));
        }
    }
    Ok(())
}

/// The plan's tensor table, with ids and arena bounds checked on lookup.
struct Tensors<'a> {
    infos: &'a [TensorInfo],
    arena_len: usize,
}

impl Tensors<'_> {
    fn get(&self, id: TensorId) -> Result<&TensorInfo> {
        let t = self.infos.get(id).ok_or_else(|| Error::Backend(format!("tensor id {id} out of range")))?;
        match t.offset.checked_add(t.len()) {
            Some(end) if end <= self.arena_len => Ok(t),
            _ => Err(Error::Backend(format!("tensor '{}' extends past the arena", t.name))),
        }
    }

    /// The plan's `role` ("input" or "output") tensor, which must hold `len` values.
    fn sized(&self, id: TensorId, len: usize, role: &str) -> Result<&TensorInfo> {
        let t = self.get(id)?;
        if t.len() != len {
            return Err(Error::Backend(format!(
                "{role} tensor '{}' holds {} values but the plan {role} has {len}",
                t.name,
                t.len()
            )));
        }
        Ok(t)
    }

    /// A 4-D NHWC tensor's shape.
    fn nhwc(&self, id: TensorId) -> Result<[usize; 4]> {
        let t = self.get(id)?;
        <[usize; 4]>::try_from(t.shape.as_slice())
            .map_err(|_| Error::Backend(format!("tensor '{}' should be 4-D NHWC, has shape {:?}", t.name, t.shape)))
    }
}

/// A layer's weight holds `per_output` values for each of its `outputs`, and its bias one.
fn check_weights(weight: &[f32], bias: &[f32], outputs: usize, per_output: usize) -> Result<()> {
    if weight.len() != outputs * per_output || bias.len() != outputs {
        return Err(Error::Backend(format!(
            "weight has {} values (expected {}), bias {} (expected {outputs})",
            weight.len(),
            outputs * per_output,
            bias.len()
        )));
    }
    Ok(())
}

/// Splits the arena around one step's output: the output mutably, the rest
/// readable through [`Reads`]. Reads may overlap each other but never the output.
fn split<'a>(arena: &'a mut [f32], out: &Range<usize>) -> Result<(Reads<'a>, &'a mut [f32])> {
    if out.end > arena.len() || out.start > out.end {
        return Err(Error::Backend("output range outside the arena".into()));
    }
    let (below, rest) = arena.split_at_mut(out.start);
    let (out_slice, above) = rest.split_at_mut(out.len());
    Ok((Reads { below, above, above_start: out.end }, out_slice))
}

/// The arena outside one step's output.
struct Reads<'a> {
    below: &'a [f32],
    above: &'a [f32],
    above_start: usize,
}

impl<'a> Reads<'a> {
    /// A read-only input range; an error if it overlaps the output.
    fn get(&self, r: &Range<usize>) -> Result<&'a [f32]> {
        if r.is_empty() {
            Ok(&[])
        } else if r.end <= self.below.len() {
            Ok(&self.below[r.clone()])
        } else if r.start >= self.above_start && r.end - self.above_start <= self.above.len() {
            Ok(&self.above[r.start - self.above_start..r.end - self.above_start])
        } else {
            Err(Error::Backend(format!("input range {r:?} overlaps the output or the arena end")))
        }
    }
}
