//! Fused convolution: `out = act(conv(input, weight) + bias + residual)` over NHWC.
//!
//! Three strategies share one packed weight layout `[kh*kw*cin_g][out_c]`
//! (the GEMM's B matrix; for depthwise it is a per-tap channel vector):
//! - 1x1 without padding: the NHWC input is already the GEMM's A matrix;
//! - general kxk: im2col into bounded scratch, a chunk of output pixels at a time;
//! - depthwise: a direct kernel with the inner loop over channels.
//!
//! 3x3 convs of stride 1 or 2 that [`winograd::choose`] picks run as
//! Winograd instead, on weights transformed once here (`winograd`).
//!
//! With [`Kernels::Simd128`] (wasm32 + simd128) every non-depthwise conv is
//! an indirect GEMM over weights packed once here, and depthwise has its own
//! SIMD kernel (`simd::conv`).
//!
//! The residual is folded in before accumulation: C starts as the residual
//! (copied, or already there when output aliases it) and the GEMM runs with
//! `beta = 1`, so an in-place residual is read exactly once, before its
//! element is overwritten, and the output is never used as scratch.
use std::ops::Range;

use super::gemm::{bias_act, sgemm, MatMut, MatRef};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd;
use super::window::Axis;
use super::winograd::{self, Tiling, Variant};
use super::{check_weights, par, split, Kernel, Kernels, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Activation, Conv};
use crate::transpose::transpose;

/// im2col scratch bound, in f32 elements (2 MiB): keeps a chunk's patches in cache.
const IM2COL_SCRATCH: usize = 1 << 19;

/// Output rows per epilogue chunk on the direct 1x1 stride-1 path.
const POINTWISE_CHUNK: usize = 256;

/// Output pixels per thread's piece of a depthwise conv, at least.
pub const DEPTHWISE_GRAIN: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Residual {
    None,
    Separate(Range<usize>),
    /// The output range is the residual range.
    InPlace,
}

impl Residual {
    /// Where the residual is read from, given the output's range.
    fn new(c: &Conv, t: &Tensors, output: &Range<usize>) -> Result<Self> {
        let Some(r) = c.residual else {
            return Ok(Residual::None);
        };
        let rt = t.get(r)?;
        if rt.shape != t.get(c.output)?.shape {
            return Err(Error::Backend(format!(
                "residual '{}' shape {:?} differs from the output's",
                rt.name, rt.shape
            )));
        }
        Ok(if rt.range() == *output { Residual::InPlace } else { Residual::Separate(rt.range()) })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    Pointwise,
    Im2col,
    Depthwise,
    Winograd,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    SimdGemm,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    SimdDepthwise,
}

impl Strategy {
    fn choose(c: &Conv, g: &Geom, kernels: Kernels, wino: Option<Variant>) -> Result<Self> {
        let depthwise = g.groups == g.in_c && g.groups == g.out_c && g.groups > 1;
        Ok(match kernels {
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            Kernels::Simd128 => return Err(Kernels::unavailable()),
            _ if wino.is_some() => Strategy::Winograd,
            Kernels::Portable if depthwise => Strategy::Depthwise,
            Kernels::Portable if c.kernel == [1, 1] && c.pad == [0; 4] => Strategy::Pointwise,
            Kernels::Portable => Strategy::Im2col,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 if depthwise => Strategy::SimdDepthwise,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 => Strategy::SimdGemm,
        })
    }
}

/// A conv's validated shapes and window.
pub struct Geom {
    pub batch: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub groups: usize,
    pub h: Axis,
    pub w: Axis,
    pub out_h: usize,
    pub out_w: usize,
}

impl Geom {
    /// Checks the conv's channels, groups, window and weight sizes against its tensors.
    pub fn new(c: &Conv, t: &Tensors) -> Result<Self> {
        let [n, ih, iw, ic] = t.nhwc(c.input)?;
        let [on, oh, ow, oc] = t.nhwc(c.output)?;
        let [h, w] = Axis::hw([ih, iw], c.kernel, c.stride, c.pad, c.dilation)?;
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
        let geom = Geom { batch: n, in_c: ic, out_c: oc, groups: g, h, w, out_h: oh, out_w: ow };
        check_weights(&c.weight, &c.bias, oc, geom.k())?;
        Ok(geom)
    }

    pub fn cin_g(&self) -> usize {
        self.in_c / self.groups
    }

    pub fn cout_g(&self) -> usize {
        self.out_c / self.groups
    }

    /// GEMM depth: one im2col row.
    pub fn k(&self) -> usize {
        self.h.kernel * self.w.kernel * self.cin_g()
    }

    /// Output pixel `p` (NHWC order) as (batch, output row, output column).
    pub fn pixel(&self, p: usize) -> (usize, usize, usize) {
        (p / (self.out_h * self.out_w), (p / self.out_w) % self.out_h, p % self.out_w)
    }
}

enum Weights {
    /// `[kh][kw][in_c/groups][out_c]`: the portable GEMM's B, or depthwise taps.
    Plain(Vec<f32>),
    /// One packed B per group.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Packed(Vec<simd::gemm::PackedB>),
    /// `U[xi]` as `[xi][out_c][in_c]` for the portable GEMM.
    Winograd(Tiling, Vec<f32>),
    /// `U[xi]` packed for the SIMD GEMM.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    WinogradPacked(Tiling, Vec<simd::gemm::PackedB>),
}

impl Weights {
    /// The conv's weights laid out once for `strategy`.
    fn pack(c: &Conv, geom: &Geom, strategy: Strategy, kernels: Kernels, wino: Option<Variant>) -> Self {
        let (oc, ic) = (geom.out_c, geom.in_c);
        match (strategy, wino) {
            (Strategy::Winograd, Some(v)) => {
                let tiling = Tiling::new(v, geom);
                match kernels {
                    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                    Kernels::Simd128 => Weights::WinogradPacked(tiling, simd::winograd::pack(v, &c.weight, oc, ic)),
                    _ => Weights::Winograd(tiling, winograd::portable_weights(v, &c.weight, oc, ic)),
                }
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Strategy::SimdGemm, _) => Weights::Packed(simd::conv::pack(geom, &c.weight, &c.bias)),
            // OHWI [oc][k] -> [k][oc]: B is then row-major with unit column stride.
            _ => Weights::Plain(transpose(&c.weight, oc, geom.k())),
        }
    }
}

/// Where a conv step reads and writes in the arena.
pub struct Operands {
    input: Range<usize>,
    output: Range<usize>,
    residual: Residual,
}

impl Operands {
    pub fn new(c: &Conv, t: &Tensors) -> Result<Self> {
        let output = t.get(c.output)?.range();
        let residual = Residual::new(c, t, &output)?;
        Ok(Operands { input: t.get(c.input)?.range(), output, residual })
    }

    /// Splits the arena into the input and the output, the output holding
    /// the residual where there is one; returns whether it does.
    pub fn start<'a>(&self, arena: &'a mut [f32]) -> Result<(&'a [f32], &'a mut [f32], bool)> {
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
        Ok((input, out, accumulate))
    }
}

pub struct ConvKernel {
    ops: Operands,
    g: Geom,
    strategy: Strategy,
    weight: Weights,
    bias: Vec<f32>,
    act: Activation,
}

impl ConvKernel {
    /// `wino`: run as Winograd with this variant (one of [`winograd::variants`]).
    pub fn new(c: &Conv, t: &Tensors, kernels: Kernels, wino: Option<Variant>) -> Result<Self> {
        let geom = Geom::new(c, t)?;
        let ops = Operands::new(c, t)?;
        if let Some(v) = wino.filter(|v| !winograd::variants(c).contains(v)) {
            return Err(Error::Backend(format!(
                "Winograd {v:?} does not fit this conv's kernel, stride, dilation or groups"
            )));
        }
        let strategy = Strategy::choose(c, &geom, kernels, wino)?;
        Ok(ConvKernel {
            ops,
            weight: Weights::pack(c, &geom, strategy, kernels, wino),
            g: geom,
            strategy,
            bias: c.bias.clone(),
            act: c.activation,
        })
    }

    /// The `[k][out_c]` weights (every strategy but the SIMD GEMM's).
    fn plain(&self) -> Result<&[f32]> {
        match &self.weight {
            Weights::Plain(w) => Ok(w),
            _ => Err(Error::Backend("conv weights are packed for another strategy".into())),
        }
    }

    /// Runs the Winograd strategy on its transformed weights.
    fn winograd(&self, input: &[f32], out: &mut [f32], scratch: &mut [f32], accumulate: bool) -> Result<()> {
        let (g, bias, act) = (&self.g, &self.bias, self.act);
        match &self.weight {
            Weights::Winograd(t, u) => {
                let gemm = winograd::portable_gemm(g, t.v, u);
                t.run(g, input, bias, act, out, scratch, accumulate, &winograd::Portable, gemm)
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Weights::WinogradPacked(t, packed) => {
                let gemm = |xi, tiles, v: &[f32], m: &mut [f32]| {
                    simd::winograd::tile_gemm(g, t.v, packed, xi, tiles, v, m);
                    Ok(())
                };
                t.run(g, input, bias, act, out, scratch, accumulate, &simd::winograd::Simd, gemm)
            }
            _ => Err(Error::Backend("conv weights are not transformed for Winograd".into())),
        }
    }

    /// Output pixels `[m0, m0+m)` of group `g` = `a · B_g (+ C)`.
    fn gemm(&self, m: usize, a: MatRef, g: usize, out: &mut [f32], m0: usize, beta: f32) -> Result<()> {
        let (oc, cout_g) = (self.g.out_c, self.g.cout_g());
        let b = MatRef { data: self.plain()?, offset: g * cout_g, rs: oc, cs: 1 };
        let c = MatMut { data: out, offset: m0 * oc + g * cout_g, rs: oc, cs: 1 };
        sgemm(m, self.g.k(), cout_g, a, b, beta, c)
    }

    /// 1x1, no padding: A rows are input pixels. Stride 1 makes the whole
    /// input one matrix; otherwise each output row's pixels are `sw*c` apart.
    fn pointwise(&self, input: &[f32], out: &mut [f32], beta: f32) -> Result<()> {
        let (ic, cin_g) = (self.g.in_c, self.g.cin_g());
        let total = self.g.batch * self.g.out_h * self.g.out_w;
        let strided = self.g.h.stride != 1 || self.g.w.stride != 1;
        let chunk = if strided { self.g.out_w } else { POINTWISE_CHUNK };
        for m0 in (0..total).step_by(chunk.max(1)) {
            let m = chunk.min(total - m0);
            let (a_start, rs) = if strided {
                let (b, oy) = (m0 / (self.g.out_h * self.g.out_w), (m0 / self.g.out_w) % self.g.out_h);
                ((b * self.g.h.size + oy * self.g.h.stride) * self.g.w.size * ic, self.g.w.stride * ic)
            } else {
                (m0 * ic, ic)
            };
            for g in 0..self.g.groups {
                let a = MatRef { data: input, offset: a_start + g * cin_g, rs, cs: 1 };
                self.gemm(m, a, g, out, m0, beta)?;
            }
            bias_act(&mut out[m0 * self.g.out_c..(m0 + m) * self.g.out_c], &self.bias, self.act);
        }
        Ok(())
    }

    /// General window: im2col a chunk of output pixels per group, then GEMM.
    /// K order is (kh, kw, cin_g), matching the OHWI weights.
    fn im2col(&self, input: &[f32], out: &mut [f32], scratch: &mut [f32], beta: f32) -> Result<()> {
        let (k, cin_g) = (self.g.k(), self.g.cin_g());
        let rows = (scratch.len() / k).max(1);
        let total = self.g.batch * self.g.out_h * self.g.out_w;
        for m0 in (0..total).step_by(rows) {
            let m = rows.min(total - m0);
            let patches = scratch.get_mut(..m * k).ok_or_else(|| Error::Backend("im2col scratch too small".into()))?;
            for g in 0..self.g.groups {
                for (r, row) in patches.chunks_exact_mut(k).enumerate() {
                    let p = m0 + r;
                    let (b, oy, ox) =
                        (p / (self.g.out_h * self.g.out_w), (p / self.g.out_w) % self.g.out_h, p % self.g.out_w);
                    for (tap, dst) in row.chunks_exact_mut(cin_g).enumerate() {
                        let (ky, kx) = (tap / self.g.w.kernel, tap % self.g.w.kernel);
                        match (self.g.h.inside(oy, ky), self.g.w.inside(ox, kx)) {
                            (Some(iy), Some(ix)) => {
                                let src = ((b * self.g.h.size + iy) * self.g.w.size + ix) * self.g.in_c + g * cin_g;
                                dst.copy_from_slice(&input[src..src + cin_g]);
                            }
                            _ => dst.fill(0.0),
                        }
                    }
                }
                let a = MatRef { data: patches, offset: 0, rs: k, cs: 1 };
                self.gemm(m, a, g, out, m0, beta)?;
            }
            bias_act(&mut out[m0 * self.g.out_c..(m0 + m) * self.g.out_c], &self.bias, self.act);
        }
        Ok(())
    }

    /// Depthwise: each output pixel's channel vector accumulates
    /// `input_pixel * weight_tap` over in-image taps, channels innermost.
    /// Split over output pixels (`par`), like the SIMD kernel.
    fn depthwise(&self, input: &[f32], weight: &[f32], out: &mut [f32], accumulate: bool) {
        let (g, c) = (&self.g, self.g.out_c);
        let m = g.batch * g.out_h * g.out_w;
        par::rows(out, m, c, DEPTHWISE_GRAIN, 1, |pixels, out| {
            for (p, acc) in pixels.zip(out.chunks_exact_mut(c)) {
                let (b, oy, ox) = g.pixel(p);
                if accumulate {
                    acc.iter_mut().zip(&self.bias).for_each(|(a, &bv)| *a += bv);
                } else {
                    acc.copy_from_slice(&self.bias);
                }
                for (ky, iy) in g.h.taps(oy) {
                    for (kx, ix) in g.w.taps(ox) {
                        let src = ((b * g.h.size + iy) * g.w.size + ix) * c;
                        let wt = (ky * g.w.kernel + kx) * c;
                        let (x, wv) = (&input[src..src + c], &weight[wt..wt + c]);
                        for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(wv) {
                            *a += xv * wv;
                        }
                    }
                }
                acc.iter_mut().for_each(|a| *a = self.act.apply(*a));
            }
        });
    }
}

impl Kernel for ConvKernel {
    fn run(&self, arena: &mut [f32], scratch: &mut [f32]) -> Result<()> {
        let (input, out, accumulate) = self.ops.start(arena)?;
        let beta = if accumulate { 1.0 } else { 0.0 };
        match self.strategy {
            Strategy::Pointwise => self.pointwise(input, out, beta),
            Strategy::Im2col => self.im2col(input, out, scratch, beta),
            Strategy::Winograd => self.winograd(input, out, scratch, accumulate),
            Strategy::Depthwise => {
                self.depthwise(input, self.plain()?, out, accumulate);
                Ok(())
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Strategy::SimdGemm => match &self.weight {
                Weights::Packed(packed) => {
                    simd::conv::conv(&self.g, input, packed, self.act, out, accumulate);
                    Ok(())
                }
                _ => Err(Error::Backend("SIMD conv weights are not packed".into())),
            },
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Strategy::SimdDepthwise => {
                simd::conv::depthwise(&self.g, input, self.plain()?, &self.bias, self.act, out, accumulate);
                Ok(())
            }
        }
    }

    fn scratch_len(&self) -> usize {
        match self.strategy {
            Strategy::Im2col => {
                let total = self.g.batch * self.g.out_h * self.g.out_w;
                let k = self.g.k();
                (IM2COL_SCRATCH / k).clamp(1, total.max(1)) * k
            }
            Strategy::Winograd => match &self.weight {
                Weights::Winograd(t, _) => t.scratch_len(&self.g),
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                Weights::WinogradPacked(t, _) => t.scratch_len(&self.g),
                _ => 0,
            },
            _ => 0,
        }
    }
}
