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
//!   applies both scales, the bias, the residual and the activation.
//!
//! The A operand is a block of output pixels' taps as codes (zero point for
//! padding), read in place for unpadded 1x1 stride-1 convs and dense layers.
//! Grouped convs (depthwise included) stay on the f32 kernels.

mod portable;
mod quant;

use std::ops::Range;

use super::conv::{Geom, Operands};
use super::window::Axis;
use super::{dense, par, split, Kernel, Kernels, Tensors};
use crate::error::{Error, Result};
use crate::plan::{ActQuant, Activation, Conv, Dense};
use quant::{ActScale, WeightCodes};

/// The deepest K whose i32 sums of products (at most 255 × 127) cannot overflow.
const MAX_K: usize = i32::MAX as usize / (255 * 127);

/// Output rows per thread's piece, at least.
const GRAIN: usize = 16;

/// Output rows per gathered A block.
const BLOCK: usize = 64;

/// Whether `c` runs on the int8 kernels.
pub fn runs_conv(c: &Conv) -> bool {
    c.int8 && c.groups == 1 && c.kernel[0] * c.kernel[1] * c.in_channels <= MAX_K
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

pub struct Int8Kernel {
    io: Io,
    g: Geom,
    w: WeightCodes,
    bias: Vec<f32>,
    act: Activation,
    /// The largest activation code.
    levels: u8,
    /// The input's grid, when the model fixed it.
    fixed: Option<ActQuant>,
}

impl Int8Kernel {
    pub fn conv(c: &Conv, t: &Tensors, kernels: Kernels) -> Result<Self> {
        let g = Geom::new(c, t)?;
        let w = WeightCodes::new(&c.weight, g.out_c, g.k());
        Self::new(Io::Conv(Operands::new(c, t)?), g, w, (c.bias.clone(), c.activation, c.input_quant), kernels)
    }

    /// A dense layer as a 1x1 conv over one-pixel images, one per row.
    pub fn dense(d: &Dense, t: &Tensors, kernels: Kernels) -> Result<Self> {
        let rows = dense::rows(d, t)?;
        let [h, w] = Axis::hw([1, 1], [1, 1], [1, 1], [0; 4], [1, 1])?;
        let g = Geom { batch: rows, in_c: d.in_features, out_c: d.out_features, groups: 1, h, w, out_h: 1, out_w: 1 };
        let io = Io::Dense { input: t.get(d.input)?.range(), output: t.get(d.output)?.range() };
        let w = WeightCodes::new(&d.weight, d.out_features, d.in_features);
        Self::new(io, g, w, (d.bias.clone(), d.activation, d.input_quant), kernels)
    }

    /// `epilogue`: the bias, the activation and the input's fixed grid.
    fn new(
        io: Io,
        g: Geom,
        w: WeightCodes,
        epilogue: (Vec<f32>, Activation, Option<ActQuant>),
        kernels: Kernels,
    ) -> Result<Self> {
        let (bias, act, fixed) = epilogue;
        let levels = match kernels {
            Kernels::Portable => 255,
            #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
            Kernels::Simd128 => return Err(Kernels::unavailable()),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 => 255,
        };
        // A fixed grid spans 256 codes.
        if fixed.is_some() && levels != u8::MAX {
            return Err(Error::Backend("a fixed activation grid needs 8-bit activation codes".into()));
        }
        Ok(Int8Kernel { io, g, w, bias, act, levels, fixed })
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

    /// A's rows for output pixels `p0..p0 + rows`, `[rows][k]`: the codes
    /// themselves where [`Self::direct`], else each pixel's taps gathered
    /// into `buf`, the zero point standing for padding.
    fn a_rows<'a>(&self, codes: &'a [u8], zero: u8, p0: usize, rows: usize, buf: &'a mut Vec<u8>) -> &'a [u8] {
        let (g, ic, k) = (&self.g, self.g.in_c, self.g.k());
        if self.direct() {
            return &codes[p0 * ic..(p0 + rows) * ic];
        }
        buf.clear();
        buf.resize(rows * k, zero);
        for (r, row) in buf.chunks_exact_mut(k).enumerate() {
            let (b, oy, ox) = g.pixel(p0 + r);
            for (ky, iy) in g.h.taps(oy) {
                for (kx, ix) in g.w.taps(ox) {
                    let src = ((b * g.h.size + iy) * g.w.size + ix) * ic;
                    let dst = (ky * g.w.kernel + kx) * ic;
                    row[dst..dst + ic].copy_from_slice(&codes[src..src + ic]);
                }
            }
        }
        buf
    }
}

impl Kernel for Int8Kernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (input, out, accumulate) = self.io.start(arena)?;
        let x = match self.fixed {
            Some(q) => ActScale::fixed(q),
            None => ActScale::of(input, self.levels),
        };
        let mut codes = Vec::new();
        x.codes(input, &mut codes);
        let epi = Epilogue {
            zero: i32::from(x.zero),
            sums: &self.w.sums,
            scale: self.w.scale.iter().map(|s| s * x.scale).collect(),
            bias: &self.bias,
            act: self.act,
            accumulate,
        };
        let (g, n, k) = (&self.g, self.g.out_c, self.g.k());
        let m = g.batch * g.out_h * g.out_w;
        par::rows(out, m, n, GRAIN, 1, |pixels, out| {
            let mut buf = Vec::new();
            for p0 in pixels.clone().step_by(BLOCK) {
                let rows = BLOCK.min(pixels.end - p0);
                let a = self.a_rows(&codes, x.zero, p0, rows, &mut buf);
                let at = (p0 - pixels.start) * n;
                portable::gemm(a, rows, &self.w.codes, k, &epi, &mut out[at..at + rows * n]);
            }
        });
        Ok(())
    }
}

/// `out = act((acc - zero × Σw) × s_x × s_w + bias (+ out))` per output.
pub struct Epilogue<'a> {
    zero: i32,
    sums: &'a [i32],
    /// `s_x × s_w` per output.
    scale: Vec<f32>,
    bias: &'a [f32],
    act: Activation,
    accumulate: bool,
}

impl Epilogue<'_> {
    /// Output `o` from its sum of code products. `Σ (x - zero) × w` itself
    /// fits in i32 (|x - zero| ≤ 255), so wrapping gives it exactly.
    #[inline(always)]
    pub fn apply(&self, o: usize, acc: i32, out: &mut f32) {
        let sum = acc.wrapping_sub(self.zero.wrapping_mul(self.sums[o]));
        let mut y = sum as f32 * self.scale[o] + self.bias[o];
        if self.accumulate {
            y += *out;
        }
        *out = self.act.apply(y);
    }
}
