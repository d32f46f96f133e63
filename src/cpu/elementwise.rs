//! Per-element and per-row ops: Affine, Add, Quantize, Softmax.
use std::ops::Range;

use super::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Activation, Affine, Quantize, TensorId};

/// `out = act(in * scale[c] + shift[c])` over the innermost dimension.
pub struct AffineKernel {
    input: Range<usize>,
    output: Range<usize>,
    /// Broadcast scalars are expanded to `channels` at load.
    scale: Vec<f32>,
    shift: Vec<f32>,
    act: Activation,
}

impl AffineKernel {
    pub fn new(a: &Affine, t: &Tensors) -> Result<Self> {
        let (input, output) = (t.get(a.input)?, t.get(a.output)?);
        let c = a.channels;
        if c == 0 || input.len() != output.len() || input.len() % c != 0 {
            return Err(Error::Backend(format!(
                "input {} / output {} values are not rows of {c} channels",
                input.len(),
                output.len()
            )));
        }
        let expand = |v: &[f32], what: &str| match v.len() {
            1 => Ok(vec![v[0]; c]),
            n if n == c => Ok(v.to_vec()),
            n => Err(Error::Backend(format!("{what} has {n} values, expected 1 or {c}"))),
        };
        Ok(AffineKernel {
            input: input.range(),
            output: output.range(),
            scale: expand(&a.scale, "scale")?,
            shift: expand(&a.shift, "shift")?,
            act: a.activation,
        })
    }
}

impl Kernel for AffineKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        let c = self.scale.len();
        for (o, x) in out.chunks_exact_mut(c).zip(input.chunks_exact(c)) {
            for (((o, &x), &s), &t) in o.iter_mut().zip(x).zip(&self.scale).zip(&self.shift) {
                *o = self.act.apply(x * s + t);
            }
        }
        Ok(())
    }
}

/// ONNX QuantizeLinear then DequantizeLinear ([`Quantize`]).
pub struct QuantizeKernel {
    input: Range<usize>,
    output: Range<usize>,
    q: Quantize,
}

impl QuantizeKernel {
    pub fn new(q: &Quantize, t: &Tensors) -> Result<Self> {
        let (input, output) = (t.get(q.input)?, t.get(q.output)?);
        if input.len() != output.len() {
            return Err(Error::Backend(format!("quantize {} values into {}", input.len(), output.len())));
        }
        Ok(QuantizeKernel { input: input.range(), output: output.range(), q: q.clone() })
    }
}

impl Kernel for QuantizeKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        let q = &self.q;
        // Saturating before rounding gives the same codes (the bounds are
        // whole), less the zero point; a NaN saturates low, as in ONNX Runtime.
        let (lo, hi) = ((q.lo - q.zero) as f32, (q.hi - q.zero) as f32);
        for (o, &x) in out.iter_mut().zip(input) {
            *o = round_half_even((x / q.scale).max(lo).min(hi)) * q.scale;
        }
        Ok(())
    }
}

/// `v` rounded half to even, for `|v| < 2^22`: adding and taking away
/// 1.5 × 2^23 leaves no fraction bits, in two adds where `round_ties_even`
/// is a library call on targets without a rounding instruction.
#[inline(always)]
pub fn round_half_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    v + SHIFT - SHIFT
}

/// `out = act(a + b)`.
pub struct AddKernel {
    a: Range<usize>,
    b: Range<usize>,
    output: Range<usize>,
    act: Activation,
}

impl AddKernel {
    pub fn new(a: TensorId, b: TensorId, output: TensorId, act: Activation, t: &Tensors) -> Result<Self> {
        let (ta, tb, to) = (t.get(a)?, t.get(b)?, t.get(output)?);
        if ta.shape != tb.shape || ta.len() != to.len() {
            return Err(Error::Backend(format!(
                "shapes {:?} + {:?} -> {:?} don't agree",
                ta.shape, tb.shape, to.shape
            )));
        }
        Ok(AddKernel { a: ta.range(), b: tb.range(), output: to.range(), act })
    }
}

impl Kernel for AddKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let (a, b) = (reads.get(&self.a)?, reads.get(&self.b)?);
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = self.act.apply(x + y);
        }
        Ok(())
    }
}

/// Softmax over the innermost dimension, shifted by the row max for stability.
pub struct SoftmaxKernel {
    input: Range<usize>,
    output: Range<usize>,
    dim: usize,
}

impl SoftmaxKernel {
    pub fn new(input: TensorId, output: TensorId, t: &Tensors) -> Result<Self> {
        let (ti, to) = (t.get(input)?, t.get(output)?);
        let dim = ti.shape.last().copied().unwrap_or(1);
        if dim == 0 || ti.len() != to.len() {
            return Err(Error::Backend(format!("softmax {:?} -> {:?}", ti.shape, to.shape)));
        }
        Ok(SoftmaxKernel { input: ti.range(), output: to.range(), dim })
    }
}

impl Kernel for SoftmaxKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        for (o, x) in out.chunks_exact_mut(self.dim).zip(input.chunks_exact(self.dim)) {
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for (o, &x) in o.iter_mut().zip(x) {
                *o = (x - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            o.iter_mut().for_each(|v| *v *= inv);
        }
        Ok(())
    }
}
