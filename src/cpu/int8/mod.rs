//! int8 convolution and dense layers, for the plan's steps whose weights an
//! int8 model file stored ([`crate::plan::Conv::int8`]).
//!
//! - Weights: int8 codes with one scale per output channel (`quant`),
//!   recovered from the plan's f32 weights, which are exactly code × scale.
//! - Activations: unsigned codes with one scale and zero point per tensor:
//!   the model's own where it quantized the input (QDQ,
//!   [`crate::plan::Conv::input_quant`]), else taken from the input's range
//!   at each run. Dynamic scales need no calibration images and cannot clip
//!   a range a calibration set missed.
//! - Products accumulate in i32; one fused f32 epilogue ([`Epilogue`]) then
//!   applies both scales, the bias, the residual and the activation; or,
//!   for a QDQ layer whose output the model quantizes next
//!   ([`crate::plan::Requant`]), rounds the sum to the output grid as ONNX
//!   Runtime's fused QLinearConv does.
//!
//! The A operand is a block of output pixels' taps as codes (zero point for
//! padding), read in place for unpadded 1x1 stride-1 convs and dense layers.
//! Grouped convs (depthwise included) stay on the f32 kernels, but for those
//! on a fixed input grid, whose integer sums the portable kernel takes.
//!
//! With [`Kernels::Simd128`] the GEMM is `simd`'s, on weights packed at load:
//! the build's fastest dot product, or, for a fixed grid's 8-bit codes in a
//! build whose fastest takes 7 bits, the i16 one.

mod portable;
mod qlinear;
mod quant;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd;
mod winograd;

use std::ops::Range;

use super::conv::{Geom, Operands};
use super::elementwise::round_half_even;
use super::window::Axis;
use super::{dense, par, split, Kernel, Kernels, Tensors, Winograd};
use crate::error::{Error, Result};
use crate::plan::{ActQuant, Activation, Conv, Dense, Requant};
pub use qlinear::QLinearKernel;
use quant::{ActScale, WeightCodes, ACT_LEVELS};

/// Whether the relaxed-SIMD build's 7-bit int8 GEMMs sum with the one
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` per step (`on`) or with the pair
/// sums widened by a second dot product (the default). Both give the same
/// sums; which is faster depends on the CPU and engine. Returns whether the
/// fused form is now in use: never in a build without relaxed SIMD.
pub fn use_fused_dot(on: bool) -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd::use_fused(on);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let _ = on;
        false
    }
}

/// Whether [`use_fused_dot`] put the int8 GEMMs on the fused form.
pub fn fused_dot() -> bool {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd::fused();
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    false
}

/// The deepest K whose i32 sums of products (at most 255 × 127) cannot overflow.
const MAX_K: usize = i32::MAX as usize / (255 * 127);

/// Output rows per thread's piece, at least.
const GRAIN: usize = 16;

/// Output rows per gathered A block.
const BLOCK: usize = 64;

/// Per-output epilogue vectors are padded to a multiple of this, so the
/// SIMD epilogue reads whole panels.
const PAD: usize = 8;

/// Whether the direct kernels would run on 8-bit dot products: the relaxed
/// build's SIMD ones on its own 7-bit codes.
fn narrow(kernels: Kernels, fixed: bool) -> bool {
    kernels == Kernels::Simd128 && ACT_LEVELS != u8::MAX && !fixed
}

/// Whether `c` runs on the int8 kernels.
pub fn runs_conv(c: &Conv) -> bool {
    let depth = c.kernel[0] * c.kernel[1] * (c.in_channels / c.groups.max(1));
    c.int8 && (c.groups == 1 || c.input_quant.is_some()) && depth <= MAX_K
}

/// Whether `d` runs on the int8 kernels.
pub fn runs_dense(d: &Dense) -> bool {
    d.int8 && d.in_features <= MAX_K
}

/// Where a step reads and writes.
enum Io {
    Conv(Operands),
    Dense { input: Range<usize>, output: Range<usize> },
}

impl Io {
    /// The input, the output and whether the output holds a residual to add.
    fn start<'a>(&self, arena: &'a mut [f32]) -> Result<(&'a [f32], &'a mut [f32], bool)> {
        match self {
            Io::Conv(ops) => ops.start(arena),
            Io::Dense { input, output } => {
                let (reads, out) = split(arena, output)?;
                Ok((reads.get(input)?, out, false))
            }
        }
    }
}

/// The weights as the chosen GEMM reads them.
enum Gemm {
    /// `[n][k]` codes.
    Portable,
    /// A grouped conv's `[n][k]` codes, one group's inputs per output.
    Grouped(portable::Groups),
    /// A depthwise conv's codes by tap, `[taps][n]`.
    Depthwise(Vec<i8>),
    /// For codes of [`ACT_LEVELS`].
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd(simd::PanelsOf<simd::Best>),
    /// For a fixed grid's 8-bit codes where [`ACT_LEVELS`] is 7 bits.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Wide(simd::PanelsOf<simd::Wide>),
    /// A 3x3 stride-1 conv as Winograd F(2x2, 3x3), exactly.
    Winograd(winograd::Weights),
}

pub struct Int8Kernel {
    io: Io,
    g: Geom,
    w: WeightCodes,
    gemm: Gemm,
    /// Padded to a multiple of [`PAD`].
    bias: Vec<f32>,
    act: Activation,
    /// The input's grid, when the model fixed it.
    fixed: Option<ActQuant>,
    /// Rounding to the output grid, for a QDQ layer with one.
    rounding: Option<Rounding>,
}

/// What an int8 layer's epilogue takes from its step.
struct Layer {
    bias: Vec<f32>,
    act: Activation,
    fixed: Option<ActQuant>,
    requant: Option<Requant>,
}

impl Layer {
    /// The weight codes: on the model's own scales where it gave them.
    fn codes(&self, w: &[f32], n: usize, k: usize) -> Result<WeightCodes> {
        match &self.requant {
            Some(r) if r.weight_scale.len() != n || r.bias.len() != n => Err(Error::Backend(format!(
                "{} weight scales and {} bias codes for {n} outputs",
                r.weight_scale.len(),
                r.bias.len()
            ))),
            Some(r) => Ok(WeightCodes::with_scales(w, n, k, &r.weight_scale)),
            None => Ok(WeightCodes::new(w, n, k)),
        }
    }
}

impl Int8Kernel {
    /// `wino`: [`Winograd::Auto`] takes Winograd where it measured faster,
    /// [`Winograd::Every`] wherever it can run.
    pub fn conv(c: &Conv, t: &Tensors, kernels: Kernels, wino: Winograd) -> Result<Self> {
        let g = Geom::new(c, t)?;
        let layer = Layer { bias: c.bias.clone(), act: c.activation, fixed: c.input_quant, requant: c.requant.clone() };
        let w = layer.codes(&c.weight, g.out_c, g.k())?;
        let wino = winograd::eligible(&g)
            && match wino {
                Winograd::Auto => winograd::pays(&g, narrow(kernels, layer.fixed.is_some())),
                Winograd::Every(_) => true,
                Winograd::Never => false,
            };
        Self::new(Io::Conv(Operands::new(c, t)?), g, w, layer, kernels, wino)
    }

    /// A dense layer as a 1x1 conv over one-pixel images, one per row.
    pub fn dense(d: &Dense, t: &Tensors, kernels: Kernels) -> Result<Self> {
        let rows = dense::rows(d, t)?;
        let [h, w] = Axis::hw([1, 1], [1, 1], [1, 1], [0; 4], [1, 1])?;
        let g = Geom { batch: rows, in_c: d.in_features, out_c: d.out_features, groups: 1, h, w, out_h: 1, out_w: 1 };
        let io = Io::Dense { input: t.get(d.input)?.range(), output: t.get(d.output)?.range() };
        let layer = Layer { bias: d.bias.clone(), act: d.activation, fixed: d.input_quant, requant: d.requant.clone() };
        let w = layer.codes(&d.weight, d.out_features, d.in_features)?;
        Self::new(io, g, w, layer, kernels, false)
    }

    fn new(io: Io, g: Geom, mut w: WeightCodes, layer: Layer, kernels: Kernels, wino: bool) -> Result<Self> {
        let Layer { mut bias, act, fixed, requant } = layer;
        let taps = g.h.kernel * g.w.kernel;
        let gemm = match kernels {
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            Kernels::Simd128 => return Err(Kernels::unavailable()),
            _ if wino => Gemm::Winograd(winograd::Weights::new(&w.codes, g.out_c, g.in_c, kernels)),
            _ if g.groups > 1 && g.groups == g.in_c && g.groups == g.out_c => {
                Gemm::Depthwise(portable::by_tap(&w.codes, g.out_c, taps))
            }
            _ if g.groups > 1 => Gemm::Grouped(portable::Groups { taps, in_c: g.in_c, groups: g.groups }),
            Kernels::Portable => Gemm::Portable,
            // A fixed grid spans 256 codes, which the relaxed build's 7-bit
            // dot product can't take.
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 if fixed.is_some() && ACT_LEVELS != u8::MAX => {
                Gemm::Wide(simd::Panels::new(&w.codes, g.out_c, g.k()))
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 => Gemm::Simd(simd::Panels::new(&w.codes, g.out_c, g.k())),
        };
        if !matches!(gemm, Gemm::Portable | Gemm::Grouped(_)) {
            // The GEMM holds its own copy, packed or transformed; the
            // epilogue reads only the codes' scales and sums.
            w.codes = Vec::new();
        }
        let pad = g.out_c.next_multiple_of(PAD);
        bias.resize(pad, 0.0);
        let rounding = match (fixed, requant) {
            (Some(x), Some(Requant { weight_scale, bias, output: Some(y) })) => {
                Some(Rounding::new(x, &weight_scale, bias, y, pad))
            }
            _ => None,
        };
        Ok(Int8Kernel { io, g, w, gemm, bias, act, fixed, rounding })
    }

    /// Whether A's rows are the input's pixels as they lie.
    fn direct(&self) -> bool {
        let g = &self.g;
        g.h.kernel == 1
            && g.w.kernel == 1
            && g.h.stride == 1
            && g.w.stride == 1
            && g.out_h == g.h.size
            && g.out_w == g.w.size
    }

    /// A's rows for output pixels `p0..p0 + rows`, `[rows][kp]` (`kp` at
    /// least K; the values past K are the zero point): the codes themselves
    /// where [`Self::direct`] and `kp` is K, else each pixel's taps gathered
    /// into `buf`, the zero point standing for padding.
    fn a_rows<'a, T: Copy>(
        &self,
        codes: &'a [T],
        zero: T,
        p0: usize,
        rows: usize,
        kp: usize,
        buf: &'a mut Vec<T>,
    ) -> &'a [T] {
        let (g, ic, k) = (&self.g, self.g.in_c, self.g.k());
        if self.direct() && kp == k {
            return &codes[p0 * ic..(p0 + rows) * ic];
        }
        buf.clear();
        buf.resize(rows * kp, zero);
        if self.direct() {
            for (r, row) in buf.chunks_exact_mut(kp).enumerate() {
                row[..ic].copy_from_slice(&codes[(p0 + r) * ic..(p0 + r + 1) * ic]);
            }
            return buf;
        }
        // With dilation 1, a pixel's taps in one kernel row read adjacent
        // input pixels: one copy each (a stem's 3 channels would otherwise
        // copy 3 codes at a time). The pixel coordinates advance from row to
        // row instead of being divided out of each.
        let (kw, span) = (g.w.kernel, if g.w.dilation == 1 { g.w.kernel } else { 1 });
        let (mut b, mut oy, mut ox) = g.pixel(p0);
        for row in buf.chunks_exact_mut(kp) {
            let x0 = g.w.coord(ox, 0);
            // Every column tap inside the image: a kernel row is one run.
            let whole = span == kw && x0 >= 0 && x0 as usize + kw <= g.w.size;
            for (ky, iy) in g.h.taps(oy) {
                let mut put = |kx: usize, ix: usize, n: usize| {
                    let src = ((b * g.h.size + iy) * g.w.size + ix) * ic;
                    let dst = (ky * kw + kx) * ic;
                    copy(&mut row[dst..dst + n * ic], &codes[src..src + n * ic]);
                };
                if whole {
                    put(0, x0 as usize, kw);
                    continue;
                }
                let mut taps = g.w.taps(ox).peekable();
                while let Some((kx, ix)) = taps.next() {
                    let mut n = 1;
                    while n < span && taps.next_if(|&(k, _)| k == kx + n).is_some() {
                        n += 1;
                    }
                    put(kx, ix, n);
                }
            }
            ox += 1;
            if ox == g.out_w {
                (ox, oy) = (0, oy + 1);
                if oy == g.out_h {
                    (oy, b) = (0, b + 1);
                }
            }
        }
        buf
    }
}

/// `d = s`, in vectors where the build has them: the short runs of a first
/// conv's taps would otherwise each be a `memory.copy` call.
#[inline(always)]
fn copy<T: Copy>(d: &mut [T], s: &[T]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    crate::cpu::simd::copy_short(d, s);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    d.copy_from_slice(s);
}

impl Int8Kernel {
    /// Calls `gemm(a, rows, out)` on blocks of A rows `[rows][kp]` made from
    /// `codes`, split over threads in pieces starting on multiples of `align`.
    fn blocks<T, F>(&self, codes: &[T], zero: T, kp: usize, align: usize, out: &mut [f32], gemm: F)
    where
        T: Copy + Send + Sync,
        F: Fn(&[T], usize, &mut [f32]) + Sync + Send,
    {
        let (g, n) = (&self.g, self.g.out_c);
        let m = g.batch * g.out_h * g.out_w;
        par::rows(out, m, n, GRAIN, align, |pixels, out| {
            let mut buf = Vec::new();
            for p0 in pixels.clone().step_by(BLOCK) {
                let rows = BLOCK.min(pixels.end - p0);
                let a = self.a_rows(codes, zero, p0, rows, kp, &mut buf);
                let at = (p0 - pixels.start) * n;
                gemm(a, rows, &mut out[at..at + rows * n]);
            }
        });
    }
}

impl Kernel for Int8Kernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (input, out, accumulate) = self.io.start(arena)?;
        let x = match (self.fixed, &self.gemm) {
            (Some(q), _) => ActScale::fixed(q),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (None, Gemm::Simd(_) | Gemm::Wide(_)) => simd::act_scale(input, ACT_LEVELS),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (None, Gemm::Winograd(wg)) if wg.simd() => simd::act_scale(input, ACT_LEVELS),
            (None, _) => ActScale::of(input, ACT_LEVELS),
        };
        let epi = Epilogue::new(&self.w, x, &self.bias, self.act, accumulate, self.rounding.as_ref());
        // The portable kernels take 8-bit codes; the SIMD ones code their own.
        let portable_codes = || {
            let mut codes: Vec<u8> = Vec::new();
            x.codes(input, &mut codes);
            codes
        };
        match &self.gemm {
            Gemm::Grouped(shape) => {
                let codes = portable_codes();
                self.blocks(&codes, x.zero, shape.taps * shape.in_c, 1, out, |a, rows, out| {
                    portable::grouped(a, rows, &self.w.codes, *shape, &epi, out)
                });
            }
            Gemm::Depthwise(w) => {
                let codes = portable_codes();
                let taps = self.g.h.kernel * self.g.w.kernel;
                self.blocks(&codes, x.zero, taps * self.g.in_c, 1, out, |a, rows, out| {
                    portable::depthwise(a, rows, w, taps, &epi, out)
                });
            }
            Gemm::Portable => {
                let codes = portable_codes();
                let k = self.g.k();
                self.blocks(&codes, x.zero, k, 1, out, |a, rows, out| {
                    portable::gemm(a, rows, &self.w.codes, k, &epi, out)
                });
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Gemm::Simd(panels) if simd::fused() => self.simd::<simd::Fused>(panels, &x, &epi, input, out),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Gemm::Simd(panels) => self.simd::<simd::Best>(panels, &x, &epi, input, out),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Gemm::Wide(panels) => self.simd::<simd::Wide>(panels, &x, &epi, input, out),
            Gemm::Winograd(wg) => {
                // Coded by SIMD for the SIMD kernels (the same codes), else
                // by the portable coder.
                let mut codes: Vec<i16> = Vec::new();
                match () {
                    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                    () if wg.simd() => simd::codes::<simd::Wide>(&x, input, &mut codes),
                    () => x.codes(input, &mut codes),
                }
                wg.run(&self.g, &codes, i16::from(x.zero), &epi, out);
            }
        }
        Ok(())
    }
}

/// A fused QLinearConv's rounding of `sum = acc - zero × Σw` to the output
/// grid: `(clamp(f32(sum + bias) × mult, -zero_y, 255 - zero_y) rounded half
/// to even) × s_y`, the value of the code that ONNX Runtime's kernels write.
/// The per-output vectors are padded to a multiple of [`PAD`].
pub struct Rounding {
    /// The model's int32 bias codes.
    bias: Vec<i32>,
    /// `s_x × s_w / s_y`, computed in that order as ONNX Runtime does.
    mult: Vec<f32>,
    /// The codes' range less the zero point.
    lo: f32,
    hi: f32,
    /// `s_y`
    step: f32,
}

impl Rounding {
    fn new(x: ActQuant, weight_scale: &[f32], mut bias: Vec<i32>, y: ActQuant, pad: usize) -> Self {
        let mut mult: Vec<f32> = weight_scale.iter().map(|&s| x.scale * s / y.scale).collect();
        bias.resize(pad, 0);
        mult.resize(pad, 0.0);
        let zero = f32::from(y.zero);
        Rounding { bias, mult, lo: -zero, hi: f32::from(u8::MAX) - zero, step: y.scale }
    }

    /// The output value for output `o`'s zero-point-corrected sum. The i32
    /// add wraps as ONNX Runtime's does (bias codes may sit near i32's ends).
    #[inline(always)]
    pub fn apply(&self, o: usize, sum: i32) -> f32 {
        let v = sum.wrapping_add(self.bias[o]) as f32 * self.mult[o];
        round_half_even(v.max(self.lo).min(self.hi)) * self.step
    }
}

impl Int8Kernel {
    /// The SIMD GEMM of lane `L` on `input` coded by `x`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn simd<L: simd::Lane>(
        &self,
        panels: &simd::PanelsOf<L>,
        x: &ActScale,
        epi: &Epilogue,
        input: &[f32],
        out: &mut [f32],
    ) {
        let mut codes = Vec::new();
        simd::codes::<L>(x, input, &mut codes);
        let kp = simd::depth::<L>(self.g.k());
        let zero = L::Code::from(x.zero);
        self.blocks(&codes, zero, kp, simd::MR, out, |a, rows, out| simd::gemm::<L>(a, rows, panels, epi, out));
    }
}

/// `out = act((acc - zero × Σw) × s_x × s_w + bias (+ out))` per output, or
/// with [`Rounding`] its value on the output grid; the per-output vectors
/// padded to a multiple of [`PAD`].
pub struct Epilogue<'a> {
    /// Outputs per row.
    n: usize,
    /// `zero × Σw`: what the zero point added to each output's sum.
    offset: Vec<i32>,
    /// `s_x × s_w`
    scale: Vec<f32>,
    bias: &'a [f32],
    act: Activation,
    accumulate: bool,
    rounding: Option<&'a Rounding>,
}

impl<'a> Epilogue<'a> {
    fn new(
        w: &WeightCodes,
        x: ActScale,
        bias: &'a [f32],
        act: Activation,
        accumulate: bool,
        rounding: Option<&'a Rounding>,
    ) -> Self {
        let pad = bias.len();
        let zero = i32::from(x.zero);
        let mut offset: Vec<i32> = w.sums.iter().map(|&s| zero.wrapping_mul(s)).collect();
        let mut scale: Vec<f32> = w.scale.iter().map(|s| s * x.scale).collect();
        offset.resize(pad, 0);
        scale.resize(pad, 0.0);
        Epilogue { n: w.scale.len(), offset, scale, bias, act, accumulate, rounding }
    }

    /// Output `o` from its sum of code products. `Σ (x - zero) × w` itself
    /// fits in i32 (|x - zero| ≤ 255), so wrapping gives it exactly.
    #[inline(always)]
    pub fn apply(&self, o: usize, acc: i32, out: &mut f32) {
        let sum = acc.wrapping_sub(self.offset[o]);
        if let Some(r) = self.rounding {
            *out = r.apply(o, sum);
            return;
        }
        let mut y = sum as f32 * self.scale[o] + self.bias[o];
        if self.accumulate {
            y += *out;
        }
        *out = self.act.apply(y);
    }
}
