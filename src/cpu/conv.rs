//! Fused convolution: `out = act(conv(input, weight) + bias + residual)` over NHWC.
//!
//! Three strategies share one packed weight layout `[kh*kw*cin_g][out_c]`
//! (the GEMM's B matrix; for depthwise it is a per-tap channel vector):
//! - 1x1 without padding: the NHWC input is already the GEMM's A matrix;
//! - general kxk: im2col into bounded scratch, a chunk of output pixels at a time;
//! - depthwise: a direct kernel with the inner loop over channels.
//!
//! The residual is folded in before accumulation: C starts as the residual
//! (copied, or already there when output aliases it) and the GEMM runs with
//! `beta = 1`, so an in-place residual is read exactly once, before its
//! element is overwritten, and the output is never used as scratch.
use std::ops::Range;

use super::gemm::{bias_act, sgemm, transpose, MatMut, MatRef};
use super::window::Axis;
use super::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Activation, Conv};

/// im2col scratch bound, in f32 elements (2 MiB): keeps a chunk's patches in cache.
const IM2COL_SCRATCH: usize = 1 << 19;

/// Output rows per epilogue chunk on the direct 1x1 stride-1 path.
const POINTWISE_CHUNK: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Residual {
    None,
    Separate(Range<usize>),
    /// The output range is the residual range.
    InPlace,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Pointwise,
    Im2col,
    Depthwise,
}

pub struct ConvKernel {
    input: Range<usize>,
    output: Range<usize>,
    residual: Residual,
    batch: usize,
    in_c: usize,
    out_c: usize,
    groups: usize,
    h: Axis,
    w: Axis,
    out_h: usize,
    out_w: usize,
    strategy: Strategy,
    /// `[kh][kw][in_c/groups][out_c]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    act: Activation,
}

impl ConvKernel {
    pub fn new(c: &Conv, t: &Tensors) -> Result<Self> {
        let [n, ih, iw, ic] = t.nhwc(c.input)?;
        let [on, oh, ow, oc] = t.nhwc(c.output)?;
        let h = Axis::new(0, ih, c.kernel, c.stride, c.pad, c.dilation)?;
        let w = Axis::new(1, iw, c.kernel, c.stride, c.pad, c.dilation)?;
        let g = c.groups;
        if g == 0 || c.in_channels % g != 0 || c.out_channels % g != 0 || c.out_channels == 0 || c.in_channels == 0 {
            return Err(Error::Backend(format!(
                "in_channels {} and out_channels {} must be positive multiples of groups {g}",
                c.in_channels, c.out_channels
            )));
        }
        if ic != c.in_channels || oc != c.out_channels || on != n {
            return Err(Error::Backend(format!(
                "tensor shapes [{n},{ih},{iw},{ic}] -> [{on},{oh},{ow},{oc}] don't match \
                 in_channels {} / out_channels {}",
                c.in_channels, c.out_channels
            )));
        }
        if h.out_floor() != Some(oh) || w.out_floor() != Some(ow) {
            return Err(Error::Backend(format!(
                "output spatial size {oh}x{ow} doesn't match the input {ih}x{iw} and window"
            )));
        }
        let cin_g = ic / g;
        let k = c.kernel[0] * c.kernel[1] * cin_g;
        if c.weight.len() != oc * k || c.bias.len() != oc {
            return Err(Error::Backend(format!(
                "weight has {} values (expected {}), bias {} (expected {oc})",
                c.weight.len(),
                oc * k,
                c.bias.len()
            )));
        }
        let output = t.get(c.output)?.range();
        let residual = match c.residual {
            None => Residual::None,
            Some(r) => {
                let rt = t.get(r)?;
                if rt.shape != t.get(c.output)?.shape {
                    return Err(Error::Backend(format!(
                        "residual '{}' shape {:?} differs from the output's",
                        rt.name, rt.shape
                    )));
                }
                if rt.range() == output {
                    Residual::InPlace
                } else {
                    Residual::Separate(rt.range())
                }
            }
        };
        let strategy = if g == ic && g == oc && g > 1 {
            Strategy::Depthwise
        } else if c.kernel == [1, 1] && c.pad == [0; 4] {
            Strategy::Pointwise
        } else {
            Strategy::Im2col
        };
        // OHWI [oc][k] -> [k][oc]: B is then row-major with unit column stride.
        let weight = transpose(&c.weight, oc, k);
        Ok(ConvKernel {
            input: t.get(c.input)?.range(),
            output,
            residual,
            batch: n,
            in_c: ic,
            out_c: oc,
            groups: g,
            h,
            w,
            out_h: oh,
            out_w: ow,
            strategy,
            weight,
            bias: c.bias.clone(),
            act: c.activation,
        })
    }

    fn cin_g(&self) -> usize {
        self.in_c / self.groups
    }

    fn cout_g(&self) -> usize {
        self.out_c / self.groups
    }

    /// GEMM depth: one im2col row.
    fn k(&self) -> usize {
        self.h.kernel * self.w.kernel * self.cin_g()
    }

    /// B for group `g`: its `cout_g` columns of the packed weight.
    fn b(&self, g: usize) -> MatRef<'_> {
        MatRef { data: &self.weight, offset: g * self.cout_g(), rs: self.out_c, cs: 1 }
    }

    /// Output pixels `[m0, m0+m)` of group `g` = `a · B_g (+ C)`.
    fn gemm(&self, m: usize, a: MatRef, g: usize, out: &mut [f32], m0: usize, beta: f32) -> Result<()> {
        let c = MatMut { data: out, offset: m0 * self.out_c + g * self.cout_g(), rs: self.out_c, cs: 1 };
        sgemm(m, self.k(), self.cout_g(), a, self.b(g), beta, c)
    }

    /// 1x1, no padding: A rows are input pixels. Stride 1 makes the whole
    /// input one matrix; otherwise each output row's pixels are `sw*c` apart.
    fn pointwise(&self, input: &[f32], out: &mut [f32], beta: f32) -> Result<()> {
        let (ic, cin_g) = (self.in_c, self.cin_g());
        let total = self.batch * self.out_h * self.out_w;
        let strided = self.h.stride != 1 || self.w.stride != 1;
        let chunk = if strided { self.out_w } else { POINTWISE_CHUNK };
        for m0 in (0..total).step_by(chunk.max(1)) {
            let m = chunk.min(total - m0);
            let (a_start, rs) = if strided {
                let (b, oy) = (m0 / (self.out_h * self.out_w), (m0 / self.out_w) % self.out_h);
                ((b * self.h.size + oy * self.h.stride) * self.w.size * ic, self.w.stride * ic)
            } else {
                (m0 * ic, ic)
            };
            for g in 0..self.groups {
                let a = MatRef { data: input, offset: a_start + g * cin_g, rs, cs: 1 };
                self.gemm(m, a, g, out, m0, beta)?;
            }
            bias_act(&mut out[m0 * self.out_c..(m0 + m) * self.out_c], &self.bias, self.act);
        }
        Ok(())
    }

    /// General window: im2col a chunk of output pixels per group, then GEMM.
    /// K order is (kh, kw, cin_g), matching the OHWI weights.
    fn im2col(&self, input: &[f32], out: &mut [f32], scratch: &mut [f32], beta: f32) -> Result<()> {
        let (k, cin_g) = (self.k(), self.cin_g());
        let rows = (scratch.len() / k).max(1);
        let total = self.batch * self.out_h * self.out_w;
        for m0 in (0..total).step_by(rows) {
            let m = rows.min(total - m0);
            let patches = scratch.get_mut(..m * k).ok_or_else(|| Error::Backend("im2col scratch too small".into()))?;
            for g in 0..self.groups {
                for (r, row) in patches.chunks_exact_mut(k).enumerate() {
                    let p = m0 + r;
                    let (b, oy, ox) = (p / (self.out_h * self.out_w), (p / self.out_w) % self.out_h, p % self.out_w);
                    for (tap, dst) in row.chunks_exact_mut(cin_g).enumerate() {
                        let (ky, kx) = (tap / self.w.kernel, tap % self.w.kernel);
                        match (self.h.inside(oy, ky), self.w.inside(ox, kx)) {
                            (Some(iy), Some(ix)) => {
                                let src = ((b * self.h.size + iy) * self.w.size + ix) * self.in_c + g * cin_g;
                                dst.copy_from_slice(&input[src..src + cin_g]);
                            }
                            _ => dst.fill(0.0),
                        }
                    }
                }
                let a = MatRef { data: patches, offset: 0, rs: k, cs: 1 };
                self.gemm(m, a, g, out, m0, beta)?;
            }
            bias_act(&mut out[m0 * self.out_c..(m0 + m) * self.out_c], &self.bias, self.act);
        }
        Ok(())
    }

    /// Depthwise: each output pixel's channel vector accumulates
    /// `input_pixel * weight_tap` over in-image taps, channels innermost.
    fn depthwise(&self, input: &[f32], out: &mut [f32], accumulate: bool) {
        let c = self.out_c;
        let mut pixels = out.chunks_exact_mut(c);
        for b in 0..self.batch {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    let Some(acc) = pixels.next() else { return };
                    if accumulate {
                        acc.iter_mut().zip(&self.bias).for_each(|(a, &bv)| *a += bv);
                    } else {
                        acc.copy_from_slice(&self.bias);
                    }
                    for (ky, iy) in self.h.taps(oy) {
                        for (kx, ix) in self.w.taps(ox) {
                            let src = ((b * self.h.size + iy) * self.w.size + ix) * c;
                            let wt = (ky * self.w.kernel + kx) * c;
                            let (x, wv) = (&input[src..src + c], &self.weight[wt..wt + c]);
                            for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(wv) {
                                *a += xv * wv;
                            }
                        }
                    }
                    acc.iter_mut().for_each(|a| *a = self.act.apply(*a));
                }
            }
        }
    }
}

impl Kernel for ConvKernel {
    fn run(&self, arena: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        let accumulate = match &self.residual {
            Residual::None => false,
            Residual::InPlace => true,
            Residual::Separate(r) => {
                out.copy_from_slice(reads.get(r)?);
                true
            }
        };
        let beta = if accumulate { 1.0 } else { 0.0 };
        match self.strategy {
            Strategy::Pointwise => self.pointwise(input, out, beta),
            Strategy::Im2col => self.im2col(input, out, scratch, beta),
            Strategy::Depthwise => {
                self.depthwise(input, out, accumulate);
                Ok(())
            }
        }
    }

    fn scratch_len(&self) -> usize {
        match self.strategy {
            Strategy::Im2col => {
                let total = self.batch * self.out_h * self.out_w;
                let k = self.k();
                (IM2COL_SCRATCH / k).clamp(1, total.max(1)) * k
            }
            _ => 0,
        }
    }
}
