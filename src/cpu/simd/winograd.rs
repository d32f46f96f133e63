//! Winograd on SIMD128: the GEMMs on the microkernel (one [`PackedB`] per
//! transformed position `xi`, A's rows taken from the block's `V`)
//! and the tile transforms on channel vectors.
use core::arch::wasm32::*;
use std::ops::Range;

use super::gemm::{gemm, Out, PackedB, Rows};
use super::{madd, Act};
use crate::cpu::conv::Geom;
use crate::cpu::winograd::{transform_weights, OutTile, Patch, Transforms, Variant};
use crate::plan::Activation;

/// Packs `U[xi]` (`in_c x out_c`) for every `xi`, with zero bias: the
/// epilogue runs after the output transform.
pub fn pack(v: Variant, weight: &[f32], out_c: usize, in_c: usize) -> Vec<PackedB> {
    let zeros = vec![0.0; out_c];
    let mut packed = Vec::with_capacity(v.alpha() * v.alpha());
    transform_weights(v, weight, out_c, in_c, |_, u| packed.push(PackedB::new(in_c, out_c, &zeros, u)));
    packed
}

/// Row `t` of `V[xi]`: tile `t`'s values at position `xi`.
struct Position<'a> {
    v: &'a [f32],
    /// Values per tile (`a² * in_c`).
    ld: usize,
    /// Offset of `xi` within a tile's values.
    col: usize,
    in_c: usize,
}

impl Rows for Position<'_> {
    fn segs(&self) -> usize {
        1
    }

    fn seg_len(&self) -> usize {
        self.in_c
    }

    fn seg(&self, m: usize, _s: usize, chans: Range<usize>) -> &[f32] {
        let at = m * self.ld + self.col;
        &self.v[at + chans.start..at + chans.end]
    }
}

/// `M[xi] = V[xi] · U[xi]` for [`crate::cpu::winograd::Tiling::run`].
pub fn tile_gemm(g: &Geom, v: Variant, packed: &[PackedB], xi: usize, tiles: usize, vbuf: &[f32], mx: &mut [f32]) {
    let a2 = v.alpha() * v.alpha();
    let rows = Position { v: vbuf, ld: a2 * g.in_c, col: xi * g.in_c, in_c: g.in_c };
    let out = Out { data: mx, ld: g.out_c, col: 0, accumulate: false };
    gemm(&rows, tiles, &packed[xi], Activation::None, out);
}

/// The transforms on 4 channels at a time, the patch's vectors in
/// registers: each `Bᵀ`/`Aᵀ` product is a handful of adds and multiply-adds
/// with shared terms instead of one pass over channels per coefficient.
pub struct Simd;

impl Transforms for Simd {
    fn input(&self, v: Variant, g: &Geom, input: &[f32], p: &Patch, tmp: &mut Vec<f32>, vt: &mut [f32]) {
        match v {
            Variant::F2 => input_tile::<4>(bt2, g.in_c, input, p, tmp, vt),
            Variant::F4 => input_tile::<6>(bt4, g.in_c, input, p, tmp, vt),
            Variant::S2 => input_tile::<5>(bts2, g.in_c, input, p, tmp, vt),
        }
    }

    fn output(&self, v: Variant, g: &Geom, ctx: &OutTile, _tmp: &mut Vec<f32>, o: &mut [f32]) {
        match v {
            Variant::F2 => output_tile::<4, 2>(at2, g, ctx, o),
            Variant::F4 => output_tile::<6, 4>(at4, g, ctx, o),
            Variant::S2 => output_tile::<5, 2>(ats2, g, ctx, o),
        }
    }
}

#[inline(always)]
fn splat(x: f32) -> v128 {
    f32x4_splat(x)
}

/// `Bᵀ d` for F(2,3).
#[inline(always)]
fn bt2(d: [v128; 4]) -> [v128; 4] {
    [f32x4_sub(d[0], d[2]), f32x4_add(d[1], d[2]), f32x4_sub(d[2], d[1]), f32x4_sub(d[1], d[3])]
}

/// `Bᵀ d` for F(4,3).
#[inline(always)]
fn bt4(d: [v128; 6]) -> [v128; 6] {
    let (four, five, two) = (splat(4.0), splat(-5.0), splat(2.0));
    let s12 = f32x4_add(d[1], d[2]);
    let s34 = f32x4_add(d[3], d[4]);
    let d12 = f32x4_sub(d[1], d[2]);
    let d43 = f32x4_sub(d[4], d[3]);
    let d31 = f32x4_sub(d[3], d[1]);
    let d42 = f32x4_sub(d[4], d[2]);
    [
        madd(four, d[0], madd(five, d[2], d[4])),
        madd(splat(-4.0), s12, s34),
        madd(four, d12, d43),
        madd(two, d31, d42),
        madd(splat(-2.0), d31, d42),
        madd(four, d[1], madd(five, d[3], d[5])),
    ]
}

/// `Bᵀ d` for the strided F(2,3).
#[inline(always)]
fn bts2(d: [v128; 5]) -> [v128; 5] {
    [f32x4_sub(d[0], d[2]), d[2], f32x4_sub(d[4], d[2]), d[1], d[3]]
}

/// `Aᵀ m` for F(2,3).
#[inline(always)]
fn at2(m: [v128; 4]) -> [v128; 2] {
    let s = f32x4_add(m[1], m[2]);
    [f32x4_add(m[0], s), f32x4_sub(f32x4_sub(m[1], m[2]), m[3])]
}

/// `Aᵀ m` for the strided F(2,3).
#[inline(always)]
fn ats2(m: [v128; 5]) -> [v128; 2] {
    [f32x4_add(f32x4_add(m[0], m[1]), m[3]), f32x4_add(f32x4_add(m[1], m[2]), m[4])]
}

/// `Aᵀ m` for F(4,3).
#[inline(always)]
fn at4(m: [v128; 6]) -> [v128; 4] {
    let s12 = f32x4_add(m[1], m[2]);
    let s34 = f32x4_add(m[3], m[4]);
    let d12 = f32x4_sub(m[1], m[2]);
    let d34 = f32x4_sub(m[3], m[4]);
    [
        f32x4_add(f32x4_add(m[0], s12), s34),
        madd(splat(2.0), d34, d12),
        madd(splat(4.0), s34, s12),
        f32x4_add(madd(splat(8.0), d34, d12), m[5]),
    ]
}

/// `n <= 4` values of `s` from `at`, zeros past `n`. `WHOLE`: `n` is 4,
/// and the caller has checked `at + 4 <= s.len()`.
///
/// # Safety
/// With `WHOLE`, `at + 4 <= s.len()`.
#[inline(always)]
unsafe fn load<const WHOLE: bool>(s: &[f32], at: usize, n: usize) -> v128 {
    if WHOLE {
        v128_load(s.as_ptr().add(at) as *const v128)
    } else {
        let mut buf = [0.0f32; 4];
        buf[..n].copy_from_slice(&s[at..at + n]);
        v128_load(buf.as_ptr() as *const v128)
    }
}

/// Stores the first `n <= 4` lanes of `x` at `d[at..]`; `WHOLE` as in [`load`].
///
/// # Safety
/// With `WHOLE`, `at + 4 <= d.len()`.
#[inline(always)]
unsafe fn store<const WHOLE: bool>(d: &mut [f32], at: usize, n: usize, x: v128) {
    if WHOLE {
        v128_store(d.as_mut_ptr().add(at) as *mut v128, x)
    } else {
        let mut buf = [0.0f32; 4];
        v128_store(buf.as_mut_ptr() as *mut v128, x);
        d[at..at + n].copy_from_slice(&buf[..n]);
    }
}

/// `vt[i][j] = (Bᵀ d B)[i][j]` for `A x A` patches, 4 channels at a time.
/// Each patch value's channels are found once per tile: a slice of the
/// input, or of `zeros` in the padding. `zeros` is the scratch of one
/// thread's tiles, written nowhere else: it is zeroed once, not per tile.
#[inline(always)]
fn input_tile<const A: usize>(
    bt: impl Fn([v128; A]) -> [v128; A],
    ic: usize,
    input: &[f32],
    p: &Patch,
    zeros: &mut Vec<f32>,
    vt: &mut [f32],
) {
    if zeros.len() != ic {
        zeros.clear();
        zeros.resize(ic, 0.0);
    }
    let src: [[&[f32]; A]; A] =
        std::array::from_fn(|k| std::array::from_fn(|x| p.at(k, x, ic).map_or(&zeros[..], |o| &input[o..o + ic])));
    let vt = &mut vt[..A * A * ic];
    let whole = ic / 4 * 4;
    for c in (0..whole).step_by(4) {
        // SAFETY: c + 4 <= ic, the length of every `src` slice and the
        // distance from each position's first channel to the end of `vt`.
        unsafe { input_channels::<A, true>(&bt, ic, &src, c, 4, vt) };
    }
    if whole < ic {
        // SAFETY: without WHOLE, the loads and stores are checked.
        unsafe { input_channels::<A, false>(&bt, ic, &src, whole, ic - whole, vt) };
    }
}

/// [`input_tile`] for channels `c..c + n`.
///
/// # Safety
/// With `WHOLE`, `c + 4 <= ic`, every `src` slice holds `ic` values and
/// `vt` holds `A² * ic`.
#[inline(always)]
unsafe fn input_channels<const A: usize, const WHOLE: bool>(
    bt: &impl Fn([v128; A]) -> [v128; A],
    ic: usize,
    src: &[[&[f32]; A]; A],
    c: usize,
    n: usize,
    vt: &mut [f32],
) {
    // cols[x] = Bᵀ applied down patch column x.
    let cols: [[v128; A]; A] = std::array::from_fn(|x| bt(std::array::from_fn(|k| load::<WHOLE>(src[k][x], c, n))));
    for (i, row) in (0..A).map(|i| bt(std::array::from_fn(|x| cols[x][i]))).enumerate() {
        for (j, &r) in row.iter().enumerate() {
            store::<WHOLE>(vt, (i * A + j) * ic + c, n, r);
        }
    }
}

/// The output transform and epilogue of one tile, `M x M` outputs from
/// `A x A` values, 4 channels at a time.
#[inline(always)]
fn output_tile<const A: usize, const M: usize>(
    at: impl Fn([v128; A]) -> [v128; M],
    g: &Geom,
    ctx: &OutTile,
    o: &mut [f32],
) {
    let oc = g.out_c;
    let m: [[&[f32]; A]; A] = std::array::from_fn(|k| std::array::from_fn(|x| ctx.mat(k * A + x, oc)));
    // The tile's outputs all end by its last pixel's last channel.
    let o = &mut o[..((ctx.rows - 1) * g.out_w + ctx.ox + ctx.cols) * oc];
    let tile = Epilogue { bias: &ctx.bias[..oc], act: Act::new(ctx.act), ctx, out_w: g.out_w, oc };
    let whole = oc / 4 * 4;
    for c in (0..whole).step_by(4) {
        // SAFETY: c + 4 <= oc, the length of every `m` slice and the bias,
        // and the distance from each output pixel's first channel to the
        // end of `o`.
        unsafe { output_channels::<A, M, true>(&at, &tile, &m, c, 4, o) };
    }
    if whole < oc {
        // SAFETY: without WHOLE, the loads and stores are checked.
        unsafe { output_channels::<A, M, false>(&at, &tile, &m, whole, oc - whole, o) };
    }
}

/// What [`output_channels`] applies to a tile's outputs, and where they go.
struct Epilogue<'a> {
    bias: &'a [f32],
    act: Act,
    ctx: &'a OutTile<'a>,
    out_w: usize,
    oc: usize,
}

/// [`output_tile`] for channels `c..c + n`.
///
/// # Safety
/// With `WHOLE`, `c + 4 <= oc`, every `m` slice and the bias hold `oc`
/// values, and `o` ends no earlier than the tile's last output pixel.
#[inline(always)]
unsafe fn output_channels<const A: usize, const M: usize, const WHOLE: bool>(
    at: &impl Fn([v128; A]) -> [v128; M],
    t: &Epilogue,
    m: &[[&[f32]; A]; A],
    c: usize,
    n: usize,
    o: &mut [f32],
) {
    let ctx = t.ctx;
    let bias = load::<WHOLE>(t.bias, c, n);
    // cols[x] = Aᵀ applied down column x of M.
    let cols: [[v128; M]; A] = std::array::from_fn(|x| at(std::array::from_fn(|k| load::<WHOLE>(m[k][x], c, n))));
    for (i, row) in (0..ctx.rows).map(|i| at(std::array::from_fn(|x| cols[x][i]))).enumerate() {
        for (j, &r) in row.iter().enumerate().take(ctx.cols) {
            let dst = (i * t.out_w + ctx.ox + j) * t.oc + c;
            let mut y = f32x4_add(r, bias);
            if ctx.accumulate {
                y = f32x4_add(load::<WHOLE>(o, dst, n), y);
            }
            store::<WHOLE>(o, dst, n, t.act.apply(y));
        }
    }
}
