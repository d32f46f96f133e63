//! Winograd on SIMD128: the GEMMs on the microkernel (one [`PackedB`] per
//! transformed position `xi`, A rows read in place from the block's `V`)
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
    fn input(&self, v: Variant, g: &Geom, input: &[f32], p: &Patch, _tmp: &mut Vec<f32>, vt: &mut [f32]) {
        match v {
            Variant::F2 => input_tile::<4>(bt2, g.in_c, input, p, vt),
            Variant::F4 => input_tile::<6>(bt4, g.in_c, input, p, vt),
        }
    }

    fn output(&self, v: Variant, g: &Geom, ctx: &OutTile, _tmp: &mut Vec<f32>, o: &mut [f32]) {
        match v {
            Variant::F2 => output_tile::<4, 2>(at2, g, ctx, o),
            Variant::F4 => output_tile::<6, 4>(at4, g, ctx, o),
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

/// `Aᵀ m` for F(2,3).
#[inline(always)]
fn at2(m: [v128; 4]) -> [v128; 2] {
    let s = f32x4_add(m[1], m[2]);
    [f32x4_add(m[0], s), f32x4_sub(f32x4_sub(m[1], m[2]), m[3])]
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

/// `n <= 4` values of `s` from `at`, zeros past `n`.
#[inline(always)]
fn load(s: &[f32], at: usize, n: usize) -> v128 {
    if n == 4 {
        let s = &s[at..at + 4];
        // SAFETY: s has 4 values; v128_load has no alignment requirement.
        unsafe { v128_load(s.as_ptr() as *const v128) }
    } else {
        let mut buf = [0.0f32; 4];
        buf[..n].copy_from_slice(&s[at..at + n]);
        // SAFETY: buf has 4 values.
        unsafe { v128_load(buf.as_ptr() as *const v128) }
    }
}

/// Stores the first `n <= 4` lanes of `x` at `d[at..]`.
#[inline(always)]
fn store(d: &mut [f32], at: usize, n: usize, x: v128) {
    if n == 4 {
        let d = &mut d[at..at + 4];
        // SAFETY: d has 4 values.
        unsafe { v128_store(d.as_mut_ptr() as *mut v128, x) }
    } else {
        let mut buf = [0.0f32; 4];
        // SAFETY: buf has 4 values.
        unsafe { v128_store(buf.as_mut_ptr() as *mut v128, x) };
        d[at..at + n].copy_from_slice(&buf[..n]);
    }
}

/// `vt[i][j] = (Bᵀ d B)[i][j]` for `A x A` patches, 4 channels at a time.
#[inline(always)]
fn input_tile<const A: usize>(
    bt: impl Fn([v128; A]) -> [v128; A],
    ic: usize,
    input: &[f32],
    p: &Patch,
    vt: &mut [f32],
) {
    let zero = splat(0.0);
    let offs: [[Option<usize>; A]; A] = std::array::from_fn(|k| std::array::from_fn(|x| p.at(k, x, ic)));
    for c in (0..ic).step_by(4) {
        let n = 4.min(ic - c);
        // cols[x] = Bᵀ applied down patch column x.
        let cols: [[v128; A]; A] =
            std::array::from_fn(|x| bt(std::array::from_fn(|k| offs[k][x].map_or(zero, |o| load(input, o + c, n)))));
        for (i, row) in (0..A).map(|i| bt(std::array::from_fn(|x| cols[x][i]))).enumerate() {
            for (j, &r) in row.iter().enumerate() {
                store(vt, (i * A + j) * ic + c, n, r);
            }
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
    let act = Act::new(ctx.act);
    for c in (0..oc).step_by(4) {
        let n = 4.min(oc - c);
        let bias = load(ctx.bias, c, n);
        // cols[x] = Aᵀ applied down column x of M.
        let cols: [[v128; M]; A] =
            std::array::from_fn(|x| at(std::array::from_fn(|k| load(ctx.mat(k * A + x, oc), c, n))));
        for (i, row) in (0..ctx.rows).map(|i| at(std::array::from_fn(|x| cols[x][i]))).enumerate() {
            for (j, &r) in row.iter().enumerate().take(ctx.cols) {
                let dst = (i * g.out_w + ctx.ox + j) * oc + c;
                let mut y = f32x4_add(r, bias);
                if ctx.accumulate {
                    y = f32x4_add(load(o, dst, n), y);
                }
                store(o, dst, n, act.apply(y));
            }
        }
    }
}
