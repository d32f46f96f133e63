//! A quantize step that absorbed the Add or GlobalAvgPool making its input
//! ([`QuantizedOp`]): the codes as ONNX Runtime's QLinearAdd and
//! QLinearGlobalAveragePool compute them from the operands' codes (u8 grids,
//! as `quantize_static` writes them), written as their values.

use std::ops::Range;

use super::quant::{ActScale, Coder};
use crate::cpu::elementwise::round_half_even;
use crate::cpu::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Quantize, QuantizedOp};

/// The output grid: codes in `lo..=hi`, value `(code - zero) × scale`.
#[derive(Clone, Copy)]
struct Grid {
    scale: f32,
    zero: i32,
    lo: i32,
    hi: i32,
}

impl Grid {
    fn value(&self, code: i64) -> f32 {
        (code.clamp(i64::from(self.lo), i64::from(self.hi)) - i64::from(self.zero)) as f32 * self.scale
    }
}

enum Op {
    /// `c = round_half_even(fma(a, ra, fma(b, rb, fixed)))`: each code times
    /// its scale over the output's, plus the zero points' share.
    Add { b: Range<usize>, x: [Coder; 2], ra: f32, rb: f32, fixed: f32 },
    /// Per channel of `channels`, `pixels` codes summed less their zero
    /// points, times `mult / 2^shift` rounded half away from zero.
    Mean { x: Coder, zero: i64, pixels: usize, channels: usize, mult: i64, shift: u32 },
}

pub struct QLinearKernel {
    input: Range<usize>,
    output: Range<usize>,
    grid: Grid,
    op: Op,
}

impl QLinearKernel {
    pub fn new(q: &Quantize, t: &Tensors) -> Result<Self> {
        let (input, output) = (t.get(q.input)?, t.get(q.output)?);
        let grid = Grid { scale: q.scale, zero: q.zero, lo: q.lo, hi: q.hi };
        let op = match q.of {
            Some(QuantizedOp::Add { b, grids: [ga, gb] }) => {
                let b = t.get(b)?;
                if b.len() != input.len() || input.len() != output.len() {
                    return Err(Error::Backend(format!(
                        "quantized add of {:?} and {:?} into {:?}",
                        input.shape, b.shape, output.shape
                    )));
                }
                let (ra, rb) = (ga.scale / q.scale, gb.scale / q.scale);
                let fixed = q.zero as f32 - (ra * f32::from(ga.zero) + rb * f32::from(gb.zero));
                Op::Add { b: b.range(), x: [ActScale::fixed(ga).coder(), ActScale::fixed(gb).coder()], ra, rb, fixed }
            }
            Some(QuantizedOp::Mean { grid: g }) => {
                let [_, h, w, channels] = input.shape[..] else {
                    return Err(Error::Backend(format!("quantized mean of {:?}", input.shape)));
                };
                if output.len() * h * w != input.len() || !crate::plan::mean_in_range(g.scale, q.scale, h * w) {
                    return Err(Error::Backend(format!("quantized mean of {:?} into {:?}", input.shape, output.shape)));
                }
                // The scale's 24-bit significand and the shift that undoes
                // its exponent: an exact product in i64.
                let bits = (g.scale / (q.scale * (h * w) as f32)).to_bits();
                let (mult, shift) = (i64::from(bits & 0x7f_ffff | 0x80_0000), 150 - (bits >> 23));
                Op::Mean {
                    x: ActScale::fixed(g).coder(),
                    zero: i64::from(g.zero),
                    pixels: h * w,
                    channels,
                    mult,
                    shift,
                }
            }
            None => return Err(Error::Backend("a plain quantize step on the quantized-op kernel".into())),
        };
        Ok(QLinearKernel { input: input.range(), output: output.range(), grid, op })
    }
}

impl Kernel for QLinearKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        match &self.op {
            Op::Add { b, x: [xa, xb], ra, rb, fixed } => {
                for ((o, &a), &b) in out.iter_mut().zip(input).zip(reads.get(b)?) {
                    let c = fma(f32::from(xa.code(a)), *ra, fma(f32::from(xb.code(b)), *rb, *fixed));
                    let (lo, hi) = (self.grid.lo as f32, self.grid.hi as f32);
                    *o = self.grid.value(round_half_even(c.max(lo).min(hi)) as i64);
                }
            }
            Op::Mean { x, zero, pixels, channels, mult, shift } => {
                let c = *channels;
                let bias = -zero * *pixels as i64;
                for (image, out) in input.chunks_exact(pixels * c).zip(out.chunks_exact_mut(c)) {
                    for (ch, o) in out.iter_mut().enumerate() {
                        let sum: i64 = image[ch..].iter().step_by(c).map(|&v| i64::from(x.code(v))).sum();
                        let acc = sum + bias;
                        let p = acc * mult + if acc < 0 { -1 } else { 0 };
                        let r = (p + (1 << (shift - 1))) >> shift;
                        *o = self.grid.value(r + i64::from(self.grid.zero));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `a × b + c` rounded once, as a fused multiply-add: `a` is a code (8
/// bits), so `a × b` is exact in f64, and so is the sum unless `c` is
/// minute beside it; rounding that to f32 is the FMA's result, without the
/// software FMA that targets lacking the instruction call.
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    (f64::from(a) * f64::from(b) + f64::from(c)) as f32
}

#[cfg(test)]
mod tests {
    use super::fma;

    #[test]
    fn fma_matches_a_single_rounding() {
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..100_000 {
            let a = (next() % 256) as f32;
            let b = f32::from_bits(0x3c00_0000 + next() % 0x0400_0000);
            let c = (next() % 512) as f32 - 256.0 + f32::from_bits(0x3f00_0000 + next() % 0x0080_0000);
            assert_eq!(fma(a, b, c), a.mul_add(b, c), "{a} × {b} + {c}");
        }
    }
}
