//! Exact int8 Winograd F(2x2, 3x3) for 3x3, stride-1, dilation-1 convs of
//! one group: the direct kernels' i32 sums, from 16 products per 2x2 outputs
//! and input channel where the direct GEMM takes 36.
//!
//! - Input: each 4x4 patch of activation codes (the zero point standing for
//!   padding, as in the direct kernels' taps) as `Bᵀ d B`: sums and
//!   differences of four codes, twice, so within ±1020, in i16.
//! - Weights: `(2G) g (2G)ᵀ`, whose `2G` has entries 0, ±1 and ±2, so
//!   integers (within ±1143: i16) and four times `G g Gᵀ`; packed at load.
//! - One GEMM per patch position, i16 × i16 summed in i32
//!   (`i32x4.dot_i16x8_s` in the SIMD builds): the same cost per product as
//!   the direct kernels' 8-bit dot products, for 2.25x fewer products.
//! - `Aᵀ M A` in wrapping i32: four times the direct sum modulo 2^32. The
//!   direct sum is within ±2^29 ([`MAX_IN`]), so an arithmetic shift right
//!   by 2 gives it exactly, and the layer's own [`Epilogue`] runs on it.

use std::ops::Range;

use super::Epilogue;
use crate::cpu::conv::Geom;
use crate::cpu::{par, Kernels};

/// The widest input whose direct sums (at most 9 × in_c × 255 × 127 in
/// magnitude) stay within ±2^29, so that four times them wraps back exactly.
const MAX_IN: usize = ((1 << 29) - 1) / (9 * 255 * 127);

/// Patch positions: the number of GEMMs.
const POS: usize = 16;

/// Bytes of transformed input per block of tiles: a block's rows stay in
/// cache while every output panel sweeps them.
const BLOCK_BYTES: usize = 256 << 10;

/// Most tiles per block.
const MAX_BLOCK: usize = 64;

/// The smallest output side on which Winograd beats direct kernels on the
/// relaxed build's 8-bit dot product: on 7x7 maps (a larger share of their
/// 2x2 tiles wasted) the direct ones win. Against direct kernels on their
/// i16 dot product, Winograd pays at every size.
const MIN_SIDE_NARROW: usize = 14;

/// `2G`: Lavin & Gray's `G` (points 0, ±1, ∞) doubled into integers.
const G2: [[i32; 3]; 4] = [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]];

/// Whether the conv can run here exactly.
pub fn eligible(g: &Geom) -> bool {
    let axis = |a: &crate::cpu::window::Axis| a.kernel == 3 && a.stride == 1 && a.dilation == 1;
    axis(&g.h) && axis(&g.w) && g.groups == 1 && g.in_c <= MAX_IN
}

/// Whether it pays over the direct kernels, by measurement on ResNet-50's
/// shapes; `narrow`: whether those would run on 8-bit dot products.
pub fn pays(g: &Geom, narrow: bool) -> bool {
    !narrow || g.out_h.min(g.out_w) >= MIN_SIDE_NARROW
}

/// The transformed weights, as the chosen GEMM reads them.
enum Packed {
    /// `[POS][n][cp]`
    Portable(Vec<i16>),
    /// One panel set per position.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd(Vec<super::simd::PanelsOf<super::simd::Wide>>),
}

pub struct Weights {
    packed: Packed,
    /// Input channels, and rounded up to a pair (`i32x4.dot_i16x8_s` sums
    /// pairs; the extra channel's values and weights are zero).
    in_c: usize,
    cp: usize,
    n: usize,
}

impl Weights {
    /// From the `[n][3][3][in_c]` weight codes.
    pub fn new(codes: &[i8], n: usize, in_c: usize, kernels: Kernels) -> Self {
        let cp = in_c.next_multiple_of(2);
        let mut u = vec![0i16; POS * n * cp];
        for o in 0..n {
            for c in 0..in_c {
                let g = |ky: usize, kx: usize| i32::from(codes[(o * 9 + ky * 3 + kx) * in_c + c]);
                let t: [[i32; 3]; 4] =
                    std::array::from_fn(|i| std::array::from_fn(|kx| (0..3).map(|ky| G2[i][ky] * g(ky, kx)).sum()));
                for (i, t) in t.iter().enumerate() {
                    for (j, gj) in G2.iter().enumerate() {
                        let v: i32 = t.iter().zip(gj).map(|(a, b)| a * b).sum();
                        u[((i * 4 + j) * n + o) * cp + c] = v as i16;
                    }
                }
            }
        }
        let packed = match kernels {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernels::Simd128 => {
                Packed::Simd(u.chunks_exact(n * cp).map(|u| super::simd::Panels::new(u, n, cp)).collect())
            }
            _ => Packed::Portable(u),
        };
        Weights { packed, in_c, cp, n }
    }

    /// Whether the SIMD kernels run it (and so may code the input).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    pub fn simd(&self) -> bool {
        !matches!(self.packed, Packed::Portable(_))
    }

    /// The conv `g` of NHWC activation codes `codes` (`zero` standing for
    /// padding) into `out`, through `epi`; each image's output rows split
    /// over threads in pairs, a tile's two rows.
    pub fn run(&self, g: &Geom, codes: &[i16], zero: i16, epi: &Epilogue, out: &mut [f32]) {
        let row = g.out_w * self.n;
        let image = g.h.size * g.w.size * self.in_c;
        for (b, out) in out.chunks_exact_mut(g.out_h * row).take(g.batch).enumerate() {
            let codes = &codes[b * image..(b + 1) * image];
            par::rows(out, g.out_h, row, 2, 2, |rows, out| self.rows(g, codes, zero, rows, epi, out));
        }
    }

    /// Output rows `rows` (starting on an even row) of one image.
    fn rows(&self, g: &Geom, codes: &[i16], zero: i16, rows: Range<usize>, epi: &Epilogue, out: &mut [f32]) {
        let tiles_w = g.out_w.div_ceil(2);
        let tiles: Vec<[usize; 2]> =
            (rows.start / 2..rows.end.div_ceil(2)).flat_map(|ty| (0..tiles_w).map(move |tx| [ty, tx])).collect();
        let block = self.block();
        let zeros = vec![zero; self.in_c];
        let mut half = vec![0i16; POS * self.in_c];
        let mut v = vec![0i16; POS * block * self.cp];
        let mut out = Out { g, y0: rows.start, n: self.n, data: out };
        for tiles in tiles.chunks(block) {
            for (t, &tile) in tiles.iter().enumerate() {
                self.input(g, codes, &zeros, tile, &mut half, &mut v[t * self.cp..], block);
            }
            match &self.packed {
                Packed::Portable(u) => self.portable(u, &v, block, tiles, epi, &mut out),
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                Packed::Simd(panels) => self.simd_gemm(panels, &v, block, tiles, epi, &mut out),
            }
        }
    }

    /// Tiles per block: as many as fit [`BLOCK_BYTES`], a multiple of 4 (the
    /// SIMD GEMM's rows).
    fn block(&self) -> usize {
        (BLOCK_BYTES / (POS * 2 * self.cp)).clamp(4, MAX_BLOCK) / 4 * 4
    }

    /// Tile `[ty, tx]`'s `Bᵀ d B` into `v` (position `k` at `k × block × cp`),
    /// through `half` (`Bᵀ d`).
    #[allow(clippy::too_many_arguments)]
    fn input(
        &self,
        g: &Geom,
        codes: &[i16],
        zeros: &[i16],
        [ty, tx]: [usize; 2],
        half: &mut [i16],
        v: &mut [i16],
        block: usize,
    ) {
        let c = self.in_c;
        let (y0, x0) = ((2 * ty) as isize - g.h.pad_before as isize, (2 * tx) as isize - g.w.pad_before as isize);
        let d = |i: usize, j: usize| -> &[i16] {
            let (y, x) = (y0 + i as isize, x0 + j as isize);
            if (0..g.h.size as isize).contains(&y) && (0..g.w.size as isize).contains(&x) {
                let at = (y as usize * g.w.size + x as usize) * c;
                &codes[at..at + c]
            } else {
                zeros
            }
        };
        for j in 0..4 {
            bt([d(0, j), d(1, j), d(2, j), d(3, j)], four_mut(half, [j, 4 + j, 8 + j, 12 + j].map(|r| r * c), c));
        }
        let stride = block * self.cp;
        for i in 0..4 {
            let h = |j: usize| &half[(i * 4 + j) * c..(i * 4 + j + 1) * c];
            bt([h(0), h(1), h(2), h(3)], four_mut(v, [0, 1, 2, 3].map(|j| (i * 4 + j) * stride), c));
        }
    }

    /// The portable GEMMs and output transform, an output at a time.
    fn portable(&self, u: &[i16], v: &[i16], block: usize, tiles: &[[usize; 2]], epi: &Epilogue, out: &mut Out) {
        let (n, cp, nt) = (self.n, self.cp, tiles.len());
        let mut m = vec![0i32; POS * nt];
        for o in 0..n {
            for (k, m) in m.chunks_exact_mut(nt).enumerate() {
                let w = &u[(k * n + o) * cp..(k * n + o + 1) * cp];
                for (t, m) in m.iter_mut().enumerate() {
                    let a = &v[(k * block + t) * cp..(k * block + t + 1) * cp];
                    *m = a.iter().zip(w).fold(0i32, |s, (&a, &w)| s.wrapping_add(i32::from(a) * i32::from(w)));
                }
            }
            for (t, &tile) in tiles.iter().enumerate() {
                let y = at(std::array::from_fn(|k| m[k * nt + t]), i32::wrapping_add, i32::wrapping_sub);
                for (q, y) in y.into_iter().enumerate() {
                    if let Some(px) = out.pixel(tile, q) {
                        epi.apply(o, y >> 2, &mut px[o]);
                    }
                }
            }
        }
    }

    /// The SIMD GEMMs and output transform, a panel of outputs at a time.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn simd_gemm(
        &self,
        panels: &[super::simd::PanelsOf<super::simd::Wide>],
        v: &[i16],
        block: usize,
        tiles: &[[usize; 2]],
        epi: &Epilogue,
        out: &mut Out,
    ) {
        use super::simd::{finish_cols, panel_sums, Wide, MR, NR};
        use core::arch::wasm32::*;
        let (n, cp, nt) = (self.n, self.cp, tiles.len());
        let act = crate::cpu::simd::Act::new(epi.act);
        let mut m = vec![[i32x4_splat(0); 2]; POS * nt];
        for j in 0..n.div_ceil(NR) {
            let cols = j * NR..(j * NR + NR).min(n);
            for (k, (m, panels)) in m.chunks_exact_mut(nt).zip(panels).enumerate() {
                for t0 in (0..nt).step_by(MR) {
                    let rows = MR.min(nt - t0);
                    let s = panel_sums::<Wide>(&v[(k * block + t0) * cp..], rows, panels, j);
                    m[t0..t0 + rows].copy_from_slice(&s[..rows]);
                }
            }
            for (t, &tile) in tiles.iter().enumerate() {
                let y: [[v128; 4]; 2] = std::array::from_fn(|h| {
                    at(std::array::from_fn(|k| m[k * nt + t][h]), |a, b| i32x4_add(a, b), |a, b| i32x4_sub(a, b))
                });
                for (q, (&lo, &hi)) in y[0].iter().zip(&y[1]).enumerate() {
                    if let Some(px) = out.pixel(tile, q) {
                        finish_cols(epi, act, &cols, &[i32x4_shr(lo, 2), i32x4_shr(hi, 2)], px);
                    }
                }
            }
        }
    }
}

/// One piece's output rows, from row `y0` of an image.
struct Out<'a> {
    g: &'a Geom,
    y0: usize,
    n: usize,
    data: &'a mut [f32],
}

impl Out<'_> {
    /// Output `q` (row-major in the 2x2 tile) of tile `[ty, tx]`: its `n`
    /// values, or None where the tile overhangs the map.
    fn pixel(&mut self, [ty, tx]: [usize; 2], q: usize) -> Option<&mut [f32]> {
        let (y, x) = (2 * ty + q / 2, 2 * tx + q % 2);
        if y >= self.g.out_h || x >= self.g.out_w {
            return None;
        }
        let at = ((y - self.y0) * self.g.out_w + x) * self.n;
        self.data.get_mut(at..at + self.n)
    }
}

/// `out[i] = Σ_k Bᵀ[i][k] x[k]` channel by channel, with Lavin & Gray's
/// `Bᵀ` rows `[1, 0, -1, 0]`, `[0, 1, 1, 0]`, `[0, -1, 1, 0]`, `[0, 1, 0, -1]`.
fn bt(x: [&[i16]; 4], [o0, o1, o2, o3]: [&mut [i16]; 4]) {
    let c = o0.len();
    let (x0, x1, x2, x3) = (&x[0][..c], &x[1][..c], &x[2][..c], &x[3][..c]);
    let (o1, o2, o3) = (&mut o1[..c], &mut o2[..c], &mut o3[..c]);
    for i in 0..c {
        o0[i] = x0[i] - x2[i];
        o1[i] = x1[i] + x2[i];
        o2[i] = x2[i] - x1[i];
        o3[i] = x1[i] - x3[i];
    }
}

/// Four disjoint `len`-long slices of `buf` at increasing offsets `at`.
fn four_mut(buf: &mut [i16], at: [usize; 4], len: usize) -> [&mut [i16]; 4] {
    let (a, rest) = buf[at[0]..].split_at_mut(at[1] - at[0]);
    let (b, rest) = rest.split_at_mut(at[2] - at[1]);
    let (c, d) = rest.split_at_mut(at[3] - at[2]);
    [&mut a[..len], &mut b[..len], &mut c[..len], &mut d[..len]]
}

/// `Aᵀ m A` of a 4x4 `m` (row-major) with Lavin & Gray's `Aᵀ` rows
/// `[1, 1, 1, 0]` and `[0, 1, -1, -1]`: the 2x2 outputs, row-major.
#[inline(always)]
fn at<T: Copy>(m: [T; 16], add: impl Fn(T, T) -> T, sub: impl Fn(T, T) -> T) -> [T; 4] {
    let r: [[T; 4]; 2] = [
        std::array::from_fn(|j| add(add(m[j], m[4 + j]), m[8 + j])),
        std::array::from_fn(|j| sub(sub(m[4 + j], m[8 + j]), m[12 + j])),
    ];
    let [a, b] = r.map(|r| [add(add(r[0], r[1]), r[2]), sub(sub(r[1], r[2]), r[3])]);
    [a[0], a[1], b[0], b[1]]
}
