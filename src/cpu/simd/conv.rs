//! SIMD128 convolution: indirect GEMM (each tap's input pixel is read in
//! place, zeros for padding; no im2col copy, 1x1 included) and a direct
//! depthwise kernel, both with the bias/activation/residual epilogue fused.
use core::arch::wasm32::*;
use std::ops::Range;

use super::gemm::{gemm, Matrix, Out, PackedB, Rows, MR};
use super::{copy_short, madd, Act};
use crate::cpu::conv::{Geom, DEPTHWISE_GRAIN};
use crate::cpu::par;
use crate::cpu::window::Axis;
use crate::plan::Activation;

/// One group's A operand: row `m` is output pixel `m0 + m`, segment `s` is
/// tap `s` (`(ky, kx)` row-major), holding that input pixel's `cin_g` channels.
struct TapRows<'a> {
    g: &'a Geom,
    input: &'a [f32],
    zeros: &'a [f32],
    /// First channel of the group.
    c0: usize,
    /// First output pixel: a thread's share starts there.
    m0: usize,
}

impl Rows for TapRows<'_> {
    fn segs(&self) -> usize {
        self.g.h.kernel * self.g.w.kernel
    }

    fn seg_len(&self) -> usize {
        self.g.cin_g()
    }

    fn seg(&self, m: usize, s: usize, chans: Range<usize>) -> &[f32] {
        self.tap(self.g.pixel(self.m0 + m), s, chans)
    }

    /// With one group and undilated columns, the taps of one kernel row
    /// are adjacent input pixels: one copy per kernel row where all of them
    /// are inside the image (the short-channel first convs this is for
    /// would otherwise copy a few values per call). The pixel coordinates
    /// advance from row to row instead of being divided out of each.
    fn gather(&self, ms: Range<usize>, dst: &mut [f32]) {
        let g = self.g;
        let (kw, ic, len) = (g.w.kernel, g.in_c, g.cin_g());
        let (mut b, mut oy, mut ox) = g.pixel(self.m0 + ms.start);
        for row in dst.chunks_exact_mut(self.segs() * len).take(ms.len()) {
            let x0 = g.w.coord(ox, 0);
            let run = g.groups == 1 && g.w.dilation == 1 && x0 >= 0 && x0 as usize + kw <= g.w.size;
            for (ky, d) in row.chunks_exact_mut(kw * len).enumerate() {
                match g.h.inside(oy, ky) {
                    Some(iy) if run => {
                        let at = ((b * g.h.size + iy) * g.w.size + x0 as usize) * ic;
                        copy_short(d, &self.input[at..at + kw * ic]);
                    }
                    None => d.fill(0.0),
                    Some(_) => {
                        for (kx, d) in d.chunks_exact_mut(len).enumerate() {
                            d.copy_from_slice(self.tap((b, oy, ox), ky * kw + kx, 0..len));
                        }
                    }
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
    }
}

impl TapRows<'_> {
    /// Channels `chans` of tap `s` of output pixel `(b, oy, ox)`.
    fn tap(&self, (b, oy, ox): (usize, usize, usize), s: usize, chans: Range<usize>) -> &[f32] {
        let g = self.g;
        let (ky, kx) = (s / g.w.kernel, s % g.w.kernel);
        match (g.h.inside(oy, ky), g.w.inside(ox, kx)) {
            (Some(iy), Some(ix)) => {
                let at = ((b * g.h.size + iy) * g.w.size + ix) * g.in_c + self.c0;
                &self.input[at + chans.start..at + chans.end]
            }
            _ => &self.zeros[chans],
        }
    }
}

/// Packs OHWI weights `[out_c][kh][kw][cin_g]` as one [`PackedB`] per group.
pub fn pack(g: &Geom, weight: &[f32], bias: &[f32]) -> Vec<PackedB> {
    let (k, cout_g) = (g.k(), g.cout_g());
    (0..g.groups)
        .map(|grp| {
            let o0 = grp * cout_g;
            PackedB::new(k, cout_g, &bias[o0..o0 + cout_g], &weight[o0 * k..(o0 + cout_g) * k])
        })
        .collect()
}

/// Output pixels per thread's piece, at least: fewer would re-read every
/// B panel for too little work.
const GEMM_GRAIN: usize = 16;

/// `out = act(conv(input) + bias (+ out))`, one GEMM per group, split over
/// output pixels (the GEMM's rows). A row's sums don't depend on which rows
/// share its call, so the split doesn't change the result.
pub fn conv(g: &Geom, input: &[f32], packed: &[PackedB], act: Activation, out: &mut [f32], accumulate: bool) {
    let m = g.batch * g.out_h * g.out_w;
    if plain_rows(g) {
        // The input pixels are A's rows as they lie: no per-row tap lookup,
        // which costs as much as the row's multiply-adds when K is short.
        let k = g.in_c;
        return par::rows(out, m, g.out_c, GEMM_GRAIN, MR, |pixels, out| {
            let rows = Matrix { data: &input[pixels.start * k..pixels.end * k], cols: k };
            gemm(&rows, pixels.len(), &packed[0], act, Out { data: out, ld: g.out_c, col: 0, accumulate });
        });
    }
    let zeros = vec![0.0; g.cin_g()];
    par::rows(out, m, g.out_c, GEMM_GRAIN, MR, |pixels, out| {
        for (grp, b) in packed.iter().enumerate() {
            let rows = TapRows { g, input, zeros: &zeros, c0: grp * g.cin_g(), m0: pixels.start };
            let col = grp * g.cout_g();
            gemm(&rows, pixels.len(), b, act, Out { data: &mut *out, ld: g.out_c, col, accumulate });
        }
    });
}

/// A 1x1, stride-1, unpadded conv with one group: output pixel `p`'s A row
/// is input pixel `p`.
fn plain_rows(g: &Geom) -> bool {
    let one = |a: &Axis| a.kernel == 1 && a.stride == 1 && a.pad_before == 0 && a.pad_after == 0;
    g.groups == 1 && one(&g.h) && one(&g.w)
}

/// Depthwise: per output pixel, channel vectors accumulate `x * w` over the
/// in-image taps. `weight` is `[kh][kw][c]`. Split over output pixels like [`conv`].
pub fn depthwise(g: &Geom, input: &[f32], weight: &[f32], bias: &[f32], a: Activation, out: &mut [f32], acc: bool) {
    let m = g.batch * g.out_h * g.out_w;
    par::rows(out, m, g.out_c, DEPTHWISE_GRAIN, 1, |pixels, out| {
        depthwise_pixels(g, input, weight, bias, a, pixels, out, acc)
    });
}

/// Output pixels of one row that [`quad`] computes together.
const QUAD: usize = 4;

/// [`depthwise`] for output pixels `pixels`, written to `out`: runs of
/// [`QUAD`] pixels whose taps are all inside the image's columns go to
/// [`quad`], the rest one at a time. Its own wasm function: inlined into
/// the conv step's `run`, which holds every strategy, V8 compiled these
/// loops markedly slower whenever that function grew.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn depthwise_pixels(
    g: &Geom,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    a: Activation,
    pixels: Range<usize>,
    out: &mut [f32],
    acc: bool,
) {
    let c = g.out_c;
    let act = Act::new(a);
    // (input offset, weight offset) of each in-image tap of the current pixel.
    let mut taps: Vec<(usize, usize)> = Vec::with_capacity(g.h.kernel * g.w.kernel);
    // (weight offset, input span) of each in-image kernel row of a quad.
    let mut rows = Vec::with_capacity(g.h.kernel);
    let mut p = pixels.start;
    while p < pixels.end {
        let (b, oy, ox) = g.pixel(p);
        let o = &mut out[(p - pixels.start) * c..];
        let last = ox + QUAD - 1;
        let columns_inside = g.w.coord(ox, 0) >= 0 && last < g.out_w && g.w.inside(last, g.w.kernel - 1).is_some();
        if columns_inside && p + QUAD <= pixels.end {
            quad(g, input, &mut rows, weight, bias, a, (b, oy, ox), &mut o[..QUAD * c], acc);
            p += QUAD;
            continue;
        }
        taps.clear();
        for (ky, iy) in g.h.taps(oy) {
            for (kx, ix) in g.w.taps(ox) {
                taps.push((((b * g.h.size + iy) * g.w.size + ix) * c, (ky * g.w.kernel + kx) * c));
            }
        }
        // Checked once here so that [`channels`] loads without checks.
        assert!(taps.iter().all(|&(x, w)| x + c <= input.len() && w + c <= weight.len()));
        let o = &mut o[..c];
        let mut c0 = 0;
        while c0 + 16 <= c {
            // SAFETY: c0 + 16 <= c, and every tap's x + c and w + c are in bounds.
            unsafe { channels::<4>(&taps, input, weight, bias, act, &mut o[c0..c0 + 16], c0, acc) };
            c0 += 16;
        }
        while c0 + 4 <= c {
            // SAFETY: c0 + 4 <= c, and every tap's x + c and w + c are in bounds.
            unsafe { channels::<1>(&taps, input, weight, bias, act, &mut o[c0..c0 + 4], c0, acc) };
            c0 += 4;
        }
        for (ci, o) in o.iter_mut().enumerate().skip(c0) {
            let init = if acc { *o } else { 0.0 };
            let sum = taps.iter().fold(init + bias[ci], |s, &(x, w)| s + input[x + ci] * weight[w + ci]);
            *o = a.apply(sum);
        }
        p += 1;
    }
}

/// [`QUAD`] adjacent output pixels of row `oy` from column `ox`, every
/// column tap inside the image: each weight vector is loaded once for the
/// four pixels instead of once per pixel. Same taps in the same order as
/// the one-pixel path, so the same sums.
#[allow(clippy::too_many_arguments)]
fn quad<'a>(
    g: &Geom,
    input: &'a [f32],
    rows: &mut Vec<(usize, &'a [f32])>,
    weight: &[f32],
    bias: &[f32],
    a: Activation,
    at: (usize, usize, usize),
    out: &mut [f32],
    accumulate: bool,
) {
    let args = (g, input, rows, weight, bias, a, at, out, accumulate);
    match (g.w.kernel, g.w.stride, g.w.dilation) {
        (3, 1, 1) => quad_of::<3, 1>(args),
        (3, 2, 1) => quad_of::<3, 2>(args),
        (5, 1, 1) => quad_of::<5, 1>(args),
        (5, 2, 1) => quad_of::<5, 2>(args),
        _ => quad_of::<0, 0>(args),
    }
}

/// [`quad`]'s arguments, handed on whole to the variant for the kernel's shape.
type QuadArgs<'a, 'b> = (
    &'b Geom,
    &'a [f32],
    &'b mut Vec<(usize, &'a [f32])>,
    &'b [f32],
    &'b [f32],
    Activation,
    (usize, usize, usize),
    &'b mut [f32],
    bool,
);

/// [`quad`] for kernels `KW` wide at column stride `S`, undilated (0: any
/// shape). With the shape fixed, a kernel row's taps of the four pixels read
/// `(QUAD - 1) * S + KW` input pixels, each loaded once for every tap that
/// reads it, where the general loop loads one per tap and pixel.
#[inline(always)]
fn quad_of<const KW: usize, const S: usize>((g, input, rows, weight, bias, a, (b, oy, ox), out, accumulate): QuadArgs) {
    let (c, kw, act) = (g.out_c, g.w.kernel, Act::new(a));
    let (step, dil) = (g.w.stride * c, g.w.dilation * c);
    let x0 = g.w.coord(ox, 0) as usize;
    // Each in-image kernel row's input span: all its taps of the four pixels.
    let span = (kw - 1) * dil + (QUAD - 1) * step + c;
    rows.clear();
    for (ky, iy) in g.h.taps(oy) {
        let at = ((b * g.h.size + iy) * g.w.size + x0) * c;
        rows.push((ky * kw * c, &input[at..at + span]));
    }
    let weight = &weight[..g.h.kernel * kw * c];
    let mut c0 = 0;
    while c0 + 4 <= c {
        let mut sum: [v128; QUAD] = std::array::from_fn(|_| load(&bias[c0..]));
        if accumulate {
            for (q, s) in sum.iter_mut().enumerate() {
                *s = f32x4_add(*s, load(&out[q * c + c0..]));
            }
        }
        for &(w0, row) in rows.iter() {
            // The kernel row's weights for these channels, bounds checked once.
            let wr = &weight[w0 + c0..w0 + (kw - 1) * c + c0 + 4];
            if KW > 0 {
                // SAFETY: kx * c + 4 <= (kw - 1) * c + 4 = wr.len(); input
                // pixel j of the row is read at j * c + c0 with
                // j < (QUAD - 1) * S + KW, so j * c + c0 + 4 <= span.
                unsafe {
                    let w: [v128; KW] = std::array::from_fn(|kx| v128_load(wr.as_ptr().add(kx * c) as *const v128));
                    let mut p = row.as_ptr().add(c0);
                    for j in 0..(QUAD - 1) * S + KW {
                        let x = v128_load(p as *const v128);
                        for (q, s) in sum.iter_mut().enumerate() {
                            if j >= q * S && j - q * S < KW {
                                *s = madd(x, w[j - q * S], *s);
                            }
                        }
                        p = p.add(c);
                    }
                }
                continue;
            }
            for kx in 0..kw {
                // SAFETY: kx * c + 4 <= (kw - 1) * c + 4 = wr.len().
                let w = unsafe { v128_load(wr.as_ptr().add(kx * c) as *const v128) };
                let at = kx * dil + c0;
                for (q, s) in sum.iter_mut().enumerate() {
                    // SAFETY: at + q * step + 4 <= (kw - 1) * dil + (QUAD - 1) * step + c = span = row.len().
                    let x = unsafe { v128_load(row.as_ptr().add(at + q * step) as *const v128) };
                    *s = madd(x, w, *s);
                }
            }
        }
        for (q, s) in sum.iter().enumerate() {
            let d = &mut out[q * c + c0..q * c + c0 + 4];
            // SAFETY: d has 4 values.
            unsafe { v128_store(d.as_mut_ptr() as *mut v128, act.apply(*s)) };
        }
        c0 += 4;
    }
    for q in 0..QUAD {
        for ci in c0..c {
            let init = if accumulate { out[q * c + ci] } else { 0.0 };
            let sum = rows.iter().fold(init + bias[ci], |s, &(w0, row)| {
                (0..kw).fold(s, |s, kx| s + row[kx * dil + q * step + ci] * weight[w0 + kx * c + ci])
            });
            out[q * c + ci] = a.apply(sum);
        }
    }
}

/// `V` vectors of channels from `c0`, written to `o` (`4 * V` values).
///
/// # Safety
/// Every tap `(x, w)` must have `x + c0 + 4 * V <= input.len()` and
/// `w + c0 + 4 * V <= weight.len()`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn channels<const V: usize>(
    taps: &[(usize, usize)],
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    act: Act,
    o: &mut [f32],
    c0: usize,
    accumulate: bool,
) {
    let mut sum: [v128; V] = std::array::from_fn(|v| load(&bias[c0 + 4 * v..]));
    if accumulate {
        for (v, s) in sum.iter_mut().enumerate() {
            *s = f32x4_add(*s, load(&o[4 * v..]));
        }
    }
    let (input, weight) = (input.as_ptr(), weight.as_ptr());
    for &(x, w) in taps {
        for (v, s) in sum.iter_mut().enumerate() {
            // SAFETY: x + c0 + 4 * v + 4 <= input.len(), likewise w (the contract).
            let (x, w) = unsafe {
                (
                    v128_load(input.add(x + c0 + 4 * v) as *const v128),
                    v128_load(weight.add(w + c0 + 4 * v) as *const v128),
                )
            };
            *s = madd(x, w, *s);
        }
    }
    for (v, s) in sum.iter().enumerate() {
        let d = &mut o[4 * v..4 * v + 4];
        // SAFETY: d has 4 values.
        unsafe { v128_store(d.as_mut_ptr() as *mut v128, act.apply(*s)) };
    }
}

#[inline(always)]
fn load(s: &[f32]) -> v128 {
    let s = &s[..4];
    // SAFETY: s has 4 values; v128_load has no alignment requirement.
    unsafe { v128_load(s.as_ptr() as *const v128) }
}
