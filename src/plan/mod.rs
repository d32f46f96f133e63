//! The execution plan: what every backend runs.
//!
//! A [`Plan`] is a list of fused [`Step`]s over activation tensors that all
//! live in one arena of f32 elements, at offsets chosen by liveness. 4-D
//! activations are stored NHWC (channels innermost); everything else is
//! plain row-major. Weights are stored in canonical layouts documented on
//! each step; backends repack them once at load.

mod alloc;
mod cam;
mod compile;
mod consts;
mod features;
mod fuse;
mod lower;

use crate::preprocess::PreprocessConfig;
pub use cam::CamHead;
pub use compile::{compile, compile_owned, CompileOptions};
pub use features::Features;

pub type TensorId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Logical NCHW tensor stored as `[n, h, w, c]`.
    Nhwc,
    /// Row-major in the model's own logical order.
    Plain,
}

/// An activation tensor in the arena.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Physical shape: `[n, h, w, c]` for [`Layout::Nhwc`], the logical shape otherwise.
    pub shape: Vec<usize>,
    pub layout: Layout,
    /// Start in the arena, in f32 elements (a multiple of [`ARENA_ALIGN`]).
    pub offset: usize,
    /// Name of the model value this tensor holds (for `inspect` and errors).
    pub name: String,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// Row-major strides of `shape`, in elements: [`Layout::Plain`]'s, and an
/// NHWC tensor's over its physical shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Arena offsets are aligned to 64 elements (256 bytes): WebGPU's
/// `minStorageBufferOffsetAlignment` default, and a cache-line multiple.
pub const ARENA_ALIGN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    None,
    Relu,
    /// Clip(min, max); ReLU6 is `Clip { min: 0, max: 6 }`.
    Clip {
        min: f32,
        max: f32,
    },
}

impl Activation {
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(min).min(max),
        }
    }
}

/// Fused convolution: `out = act(conv(input, weight) + bias + residual)`.
/// `input`/`output`/`residual` are NHWC. `output` may equal `residual`
/// (in-place residual add); a kernel must read `residual[i]` before writing `out[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    pub input: TensorId,
    pub output: TensorId,
    pub residual: Option<TensorId>,
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[kh, kw]`
    pub kernel: [usize; 2],
    /// `[sh, sw]`
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`, zero padding.
    pub pad: [usize; 4],
    /// `[dh, dw]`
    pub dilation: [usize; 2],
    pub groups: usize,
    /// `[out_channels][kh][kw][in_channels / groups]` (OHWI).
    pub weight: Vec<f32>,
    /// `[out_channels]`
    pub bias: Vec<f32>,
    pub activation: Activation,
    /// The weights came from int8 codes with one scale per output channel:
    /// the CPU backend may run this conv on int8 kernels.
    pub int8: bool,
    /// The input's grid when the model quantized it (QDQ): int8 kernels code
    /// the input on it instead of on the input's own range.
    pub input_quant: Option<ActQuant>,
    /// The model's own integer parameters, when it is a QDQ model's int8
    /// layer on a fixed input grid.
    pub requant: Option<Requant>,
}

/// A QDQ model's integer parameters of an int8 conv or dense layer, for the
/// integer arithmetic of ONNX Runtime's fused kernels (QLinearConv, QGemm):
/// `code = saturate(round_half_even(f32(Σ (x - zero) × w + bias) × (s_x × s_w
/// / s_y)) + zero_y)`. That lands some values one step away from the spec's
/// float conv then QuantizeLinear, and near-tied top-1s follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Requant {
    /// One per output.
    pub weight_scale: Vec<f32>,
    /// One per output: the bias in units of input scale × weight scale.
    pub bias: Vec<i32>,
    /// The grid of the quantize step that alone reads the output, which
    /// leaves values already on it as they are.
    pub output: Option<ActQuant>,
}

/// A per-tensor activation grid: `x = scale * (code - zero)`, codes 0..=255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActQuant {
    pub scale: f32,
    pub zero: u8,
}

/// ONNX QuantizeLinear then DequantizeLinear, per tensor:
/// `out = (clamp(round_half_even(in / scale) + zero, lo, hi) - zero) * scale`,
/// `in` being `input`, or the result of the op in [`Quantize::of`].
#[derive(Debug, Clone, PartialEq)]
pub struct Quantize {
    pub input: TensorId,
    pub output: TensorId,
    pub scale: f32,
    pub zero: i32,
    pub lo: i32,
    pub hi: i32,
    /// The op that made the float input, absorbed.
    pub of: Option<QuantizedOp>,
}

/// An op on a QDQ model's quantized tensors that the quantize step of its
/// result absorbed. The step computes the codes with the integer arithmetic
/// of ONNX Runtime's fused kernel for the op, which lands some values one
/// step from the float op then QuantizeLinear, and near-tied top-1s follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantizedOp {
    /// `in = input + b` (QLinearAdd); `grids` are input's and b's.
    Add { b: TensorId, grids: [ActQuant; 2] },
    /// `in` is the mean of NHWC `input` over height and width
    /// (QLinearGlobalAveragePool), `input` on `grid`.
    Mean { grid: ActQuant },
}

/// Whether ONNX Runtime's QLinearGlobalAveragePool takes a mean of `n`
/// values from scale `from` to `to`: its fixed-point multiplier needs
/// `from / (to × n)` in `2^-32..256`, and n below 2^24.
pub fn mean_in_range(from: f32, to: f32, n: usize) -> bool {
    let scale = from / (to * n as f32);
    (1..1 << 24).contains(&n) && (2f32.powi(-32)..256.0).contains(&scale)
}

impl Quantize {
    /// The same grid as unsigned codes (signed ones shifted by 128, which
    /// changes no value), for the int8 kernels.
    pub fn grid(&self) -> Option<ActQuant> {
        let zero = u8::try_from(self.zero - self.lo).ok()?;
        (self.hi - self.lo == 255).then_some(ActQuant { scale: self.scale, zero })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PoolKind {
    Max,
    /// Average; `count_include_pad` counts padded positions in the divisor.
    Avg {
        count_include_pad: bool,
    },
}

/// Windowed pooling over NHWC. Windows are clipped to the padded extent
/// (`-pad_top .. h + pad_bottom`); for `Max` padded cells are ignored, for
/// `Avg` the divisor is the number of cells in the clipped window that lie
/// inside the image (or inside the padded extent with `count_include_pad`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub input: TensorId,
    pub output: TensorId,
    pub kind: PoolKind,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 4],
    pub dilation: [usize; 2],
}

/// Fully connected: `out[r] = act(weight · in[r] + bias)` for each of the
/// `input.len() / in_features` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub input: TensorId,
    pub output: TensorId,
    pub in_features: usize,
    pub out_features: usize,
    /// `[out_features][in_features]`
    pub weight: Vec<f32>,
    /// `[out_features]`
    pub bias: Vec<f32>,
    pub activation: Activation,
    /// As [`Conv::int8`].
    pub int8: bool,
    /// As [`Conv::input_quant`].
    pub input_quant: Option<ActQuant>,
    /// As [`Conv::requant`].
    pub requant: Option<Requant>,
}

/// Per-channel affine + activation over the innermost physical dimension:
/// `out = act(in * scale[c] + shift[c])`. `scale`/`shift` have length 1
/// (broadcast) or `channels`.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    pub input: TensorId,
    pub output: TensorId,
    pub channels: usize,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub activation: Activation,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Conv(Conv),
    Pool(Pool),
    /// NHWC `[n,h,w,c]` -> `[n,1,1,c]` mean over h and w.
    GlobalAvgPool {
        input: TensorId,
        output: TensorId,
    },
    Dense(Dense),
    Affine(Affine),
    /// Elementwise `out = act(a + b)`; same shapes and layouts.
    Add {
        a: TensorId,
        b: TensorId,
        output: TensorId,
        activation: Activation,
    },
    /// Softmax over the innermost physical dimension.
    Softmax {
        input: TensorId,
        output: TensorId,
    },
    /// Physical transpose: `out` has shape `in_shape` permuted by `perm`
    /// (`out_shape[i] = in_shape[perm[i]]`).
    Permute {
        input: TensorId,
        output: TensorId,
        in_shape: Vec<usize>,
        perm: Vec<usize>,
    },
    /// Constant padding of a physical tensor: `pads[i] = (before, after)` per physical dim.
    Pad {
        input: TensorId,
        output: TensorId,
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    Quantize(Quantize),
}

impl Step {
    /// Short op name for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Conv(_) => "Conv",
            Step::Pool(p) => match p.kind {
                PoolKind::Max => "MaxPool",
                PoolKind::Avg { .. } => "AvgPool",
            },
            Step::GlobalAvgPool { .. } => "GlobalAvgPool",
            Step::Dense(_) => "Dense",
            Step::Affine(_) => "Affine",
            Step::Add { .. } => "Add",
            Step::Softmax { .. } => "Softmax",
            Step::Permute { .. } => "Permute",
            Step::Pad { .. } => "Pad",
            Step::Quantize(_) => "Quantize",
        }
    }

    /// Tensors read by this step.
    pub fn inputs(&self) -> Vec<TensorId> {
        match self {
            Step::Conv(c) => std::iter::once(c.input).chain(c.residual).collect(),
            Step::Pool(p) => vec![p.input],
            Step::Dense(d) => vec![d.input],
            Step::Affine(a) => vec![a.input],
            Step::Quantize(q) => match q.of {
                Some(QuantizedOp::Add { b, .. }) => vec![q.input, b],
                _ => vec![q.input],
            },
            Step::Add { a, b, .. } => vec![*a, *b],
            Step::GlobalAvgPool { input, .. }
            | Step::Softmax { input, .. }
            | Step::Permute { input, .. }
            | Step::Pad { input, .. } => vec![*input],
        }
    }

    /// The tensor written by this step.
    pub fn output(&self) -> TensorId {
        match self {
            Step::Conv(c) => c.output,
            Step::Pool(p) => p.output,
            Step::Dense(d) => d.output,
            Step::Affine(a) => a.output,
            Step::Quantize(q) => q.output,
            Step::Add { output, .. }
            | Step::GlobalAvgPool { output, .. }
            | Step::Softmax { output, .. }
            | Step::Permute { output, .. }
            | Step::Pad { output, .. } => *output,
        }
    }

    /// Multiply-accumulates for one run.
    pub fn macs(&self, tensors: &[TensorInfo]) -> u64 {
        match self {
            Step::Conv(c) => {
                let out = tensors[c.output].len() as u64;
                out * (c.kernel[0] * c.kernel[1] * c.in_channels / c.groups) as u64
            }
            Step::Dense(d) => tensors[d.output].len() as u64 * d.in_features as u64,
            _ => 0,
        }
    }

    /// Parameter count (weights + biases) held by this step.
    pub fn params(&self) -> usize {
        match self {
            Step::Conv(c) => c.weight.len() + c.bias.len(),
            Step::Dense(d) => d.weight.len() + d.bias.len(),
            Step::Affine(a) => a.scale.len() + a.shift.len(),
            _ => 0,
        }
    }
}

/// The model input as the caller provides it: row-major f32 in the model's
/// declared logical shape (e.g. `[n,3,h,w]` for torchvision, `[n,h,w,3]` for
/// TensorFlow exports).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    pub name: String,
    pub tensor: TensorId,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanOutput {
    pub name: String,
    pub tensor: TensorId,
    /// Logical shape, e.g. `[n, classes]`.
    pub shape: Vec<usize>,
    /// True when the model ends in Softmax (outputs are already probabilities).
    pub is_probability: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub input: PlanInput,
    pub output: PlanOutput,
    pub tensors: Vec<TensorInfo>,
    pub steps: Vec<Step>,
    /// Arena length in f32 elements; every tensor fits in `0..arena_len`.
    pub arena_len: usize,
    /// How many graph nodes were absorbed into other steps by fusion/folding.
    pub fused_nodes: usize,
    pub preprocess: PreprocessConfig,
    pub labels: Option<Vec<String>>,
}

impl Plan {
    pub fn params(&self) -> usize {
        self.steps.iter().map(Step::params).sum()
    }
    pub fn macs(&self) -> u64 {
        self.steps.iter().map(|s| s.macs(&self.tensors)).sum()
    }
    pub fn peak_activation_bytes(&self) -> usize {
        self.arena_len * 4
    }
    pub fn largest_activation_bytes(&self) -> usize {
        self.tensors.iter().map(TensorInfo::len).max().unwrap_or(0) * 4
    }
    pub fn sum_activation_bytes(&self) -> usize {
        self.tensors.iter().map(TensorInfo::len).sum::<usize>() * 4
    }
    /// Number of steps that absorbed at least one other op (bias, BN, activation, residual add).
    pub fn fused_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| match s {
                Step::Conv(c) => c.residual.is_some() || c.activation != Activation::None,
                Step::Dense(d) => d.activation != Activation::None,
                Step::Affine(a) => a.activation != Activation::None,
                Step::Add { activation, .. } => *activation != Activation::None,
                _ => false,
            })
            .count()
    }
    pub fn input_len(&self) -> usize {
        self.input.shape.iter().product()
    }
    pub fn output_len(&self) -> usize {
        self.output.shape.iter().product()
    }
}
