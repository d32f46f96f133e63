//! Winograd convolution F(m x m, 3 x 3) for 3x3, dilation-1, ungrouped
//! convs over NHWC, with the fused epilogue: stride 1, and stride 2 through
//! the input's even and odd phases.
//!
//! Output tiles of `m x m` read `a x a` input patches. Per tile,
//! the input transform `V = Bᵀ d B` gives `a²` channel vectors; each of the
//! `a²` positions `xi` is then one GEMM over tiles, `M[xi] = V[xi] · U[xi]`
//! (`U = G g Gᵀ`, the weights transformed once at load), and the output
//! transform `Y = Aᵀ M A` yields the tile, to which bias, residual and
//! activation are applied as it is written. A conv then multiplies
//! `a² / (9 m²)` as much: 4x fewer for F(4,3), 2.25x for F(2,3), 1.44x for
//! the strided F(2,3).
//!
//! Tiles go in blocks of whole tile rows of one image, sized to bounded
//! scratch: `V` as `[tile][xi][in_c]` (the input transform writes one tile's
//! values contiguously, so threads split it over tiles) and `M` as
//! `[xi][tile][out_c]` (so threads split the GEMMs over `xi`). The GEMM
//! itself is the caller's: the portable one here, or the SIMD microkernel.
use std::sync::Mutex;

use super::conv::Geom;
use super::gemm::{sgemm, MatMut, MatRef};
use super::par;
use crate::error::{Error, Result};
use crate::plan::{Activation, Conv, Step};

/// Scratch bound for one block's `V` and `M`, in f32 elements (4 MiB).
const SCRATCH: usize = 1 << 20;

/// Tiles per thread's piece of the input transform, at least.
const TRANSFORM_GRAIN: usize = 8;

/// Extra weight memory allowed for all transformed weights together, as a
/// share of the model's conv weights: F(4,3)'s `U` is 4x the 3x3 filter.
const EXTRA_WEIGHTS: f64 = 1.5;

/// Cost of streaming one weight value through the GEMM, in multiply-adds:
/// on small maps (few tiles) the `a²` weight matrices are read from memory
/// for little work each, which favours F(2,3) there.
const WEIGHT_READ: f64 = 8.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// F(2x2, 3x3): 4x4 patches, 2.25x fewer multiplies, 16/9 the weights.
    F2,
    /// F(4x4, 3x3): 6x6 patches, 4x fewer multiplies, 36/9 the weights.
    F4,
    /// F(2x2, 3x3) at stride 2: 5x5 patches. Along each axis, the even taps
    /// (0 and 2) over the even inputs are F(2,2) with 3 products, the odd
    /// tap over the odd inputs 2 plain ones: 25 products per tile instead
    /// of 36, 25/9 the weights, and every coefficient ±1 or 0.
    S2,
}

// Lavin & Gray's matrices, interpolation points 0, ±1 (and ±2 for F4, ∞).
const BT2: [[f32; 4]; 4] = [[1., 0., -1., 0.], [0., 1., 1., 0.], [0., -1., 1., 0.], [0., 1., 0., -1.]];
const G2: [[f32; 3]; 4] = [[1., 0., 0.], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0., 0., 1.]];
const AT2: [[f32; 4]; 2] = [[1., 1., 1., 0.], [0., 1., -1., -1.]];

const BT4: [[f32; 6]; 6] = [
    [4., 0., -5., 0., 1., 0.],
    [0., -4., -4., 1., 1., 0.],
    [0., 4., -4., -1., 1., 0.],
    [0., -2., -1., 2., 1., 0.],
    [0., 2., -1., -2., 1., 0.],
    [0., 4., 0., -5., 0., 1.],
];
const G4: [[f32; 3]; 6] = [
    [1. / 4., 0., 0.],
    [-1. / 6., -1. / 6., -1. / 6.],
    [-1. / 6., 1. / 6., -1. / 6.],
    [1. / 24., 1. / 12., 1. / 6.],
    [1. / 24., -1. / 12., 1. / 6.],
    [0., 0., 1.],
];
const AT4: [[f32; 6]; 4] =
    [[1., 1., 1., 1., 1., 0.], [0., 1., -1., 2., -2., 0.], [0., 1., 1., 4., 4., 0.], [0., 1., -1., 8., -8., 1.]];

// Stride 2, inputs d0..d4: the even phase's F(2,2) (d0 - d2, d2, d4 - d2
// with g0, g0 + g2, g2), then the odd phase (d1, d3 with g1).
const BTS2: [[f32; 5]; 5] =
    [[1., 0., -1., 0., 0.], [0., 0., 1., 0., 0.], [0., 0., -1., 0., 1.], [0., 1., 0., 0., 0.], [0., 0., 0., 1., 0.]];
const GS2: [[f32; 3]; 5] = [[1., 0., 0.], [1., 0., 1.], [0., 0., 1.], [0., 1., 0.], [0., 1., 0.]];
const ATS2: [[f32; 5]; 2] = [[1., 1., 0., 1., 0.], [0., 1., 1., 0., 1.]];

impl Variant {
    /// Output tile side `m`.
    pub fn m(self) -> usize {
        match self {
            Variant::F2 | Variant::S2 => 2,
            Variant::F4 => 4,
        }
    }

    /// Input patch side `a`: the inputs that `m` outputs of a 3x3 kernel
    /// read at the variant's stride.
    pub fn alpha(self) -> usize {
        (self.m() - 1) * self.stride() + 3
    }

    /// The stride of the convs it computes.
    pub fn stride(self) -> usize {
        match self {
            Variant::F2 | Variant::F4 => 1,
            Variant::S2 => 2,
        }
    }

    fn bt(self, i: usize, k: usize) -> f32 {
        match self {
            Variant::F2 => BT2[i][k],
            Variant::F4 => BT4[i][k],
            Variant::S2 => BTS2[i][k],
        }
    }

    fn g(self, i: usize, k: usize) -> f32 {
        match self {
            Variant::F2 => G2[i][k],
            Variant::F4 => G4[i][k],
            Variant::S2 => GS2[i][k],
        }
    }

    fn at(self, i: usize, k: usize) -> f32 {
        match self {
            Variant::F2 => AT2[i][k],
            Variant::F4 => AT4[i][k],
            Variant::S2 => ATS2[i][k],
        }
    }
}

/// A candidate layer's shape for the choice.
#[derive(Debug, Clone, Copy)]
struct Shape {
    batch: usize,
    out_h: usize,
    out_w: usize,
    in_c: usize,
    out_c: usize,
}

impl Shape {
    /// Estimated work, in multiply-adds: the GEMMs, the transforms (about
    /// four per patch value and channel) and one pass over the weights.
    fn cost(&self, v: Option<Variant>) -> f64 {
        let (ic, oc) = (self.in_c as f64, self.out_c as f64);
        match v {
            None => (self.batch * self.out_h * self.out_w * 9) as f64 * ic * oc + WEIGHT_READ * 9.0 * ic * oc,
            Some(v) => {
                let (m, a2) = (v.m(), (v.alpha() * v.alpha()) as f64);
                let tiles = (self.batch * self.out_h.div_ceil(m) * self.out_w.div_ceil(m)) as f64;
                tiles * (a2 * ic * oc + 4.0 * a2 * (ic + oc)) + WEIGHT_READ * a2 * ic * oc
            }
        }
    }

    /// Weight values Winograd adds over the plain 3x3 filters.
    fn extra(&self, v: Variant) -> usize {
        (v.alpha() * v.alpha() - 9) * self.in_c * self.out_c
    }
}

/// The variants a conv can run as: 3x3, dilation 1 and one group, at stride 1 or 2.
pub fn variants(c: &Conv) -> &'static [Variant] {
    if c.kernel != [3, 3] || c.dilation != [1, 1] || c.groups != 1 {
        return &[];
    }
    match c.stride {
        [1, 1] => &[Variant::F2, Variant::F4],
        [2, 2] => &[Variant::S2],
        _ => &[],
    }
}

/// `v` for every conv step that can take it, whatever it costs.
pub fn every(steps: &[Step], v: Variant) -> Vec<Option<Variant>> {
    steps.iter().map(|s| matches!(s, Step::Conv(c) if variants(c).contains(&v)).then_some(v)).collect()
}

/// Which conv steps of a plan run as Winograd, and which variant: the
/// cheaper by [`Shape::cost`] where it beats the direct conv, taken in order
/// of work saved per extra weight value while the extra memory stays within
/// [`EXTRA_WEIGHTS`] of the conv weights (else the other variant, if it fits
/// and pays).
pub fn choose(steps: &[Step], shape_of: impl Fn(&Conv) -> Option<[usize; 4]>) -> Vec<Option<Variant>> {
    let weights: usize = steps.iter().map(|s| if let Step::Conv(c) = s { c.weight.len() } else { 0 }).sum();
    let mut budget = (weights as f64 * EXTRA_WEIGHTS) as usize;
    // (step, shape, variants that beat direct, cheapest first)
    let mut cands: Vec<(usize, Shape, Vec<Variant>)> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let Step::Conv(c) = s else { return None };
            let [batch, out_h, out_w, out_c] = shape_of(c)?;
            let shape = Shape { batch, out_h, out_w, in_c: c.in_channels, out_c };
            let direct = shape.cost(None);
            let mut vs: Vec<Variant> = variants(c).iter().copied().filter(|&v| shape.cost(Some(v)) < direct).collect();
            vs.sort_by(|&a, &b| shape.cost(Some(a)).total_cmp(&shape.cost(Some(b))));
            (!vs.is_empty()).then_some((i, shape, vs))
        })
        .collect();
    let density = |s: &Shape, v: Variant| (s.cost(None) - s.cost(Some(v))) / s.extra(v).max(1) as f64;
    cands.sort_by(|a, b| density(&b.1, b.2[0]).total_cmp(&density(&a.1, a.2[0])));
    let mut picks = vec![None; steps.len()];
    for (i, shape, vs) in cands {
        if let Some(&v) = vs.iter().find(|&&v| shape.extra(v) <= budget) {
            budget -= shape.extra(v);
            picks[i] = Some(v);
        }
    }
    picks
}

/// `U = G g Gᵀ` of OHWI 3x3 weights `[out_c][3][3][in_c]`, handed to `sink`
/// one position at a time: `sink(xi, u)` with `u` as `[out_c][in_c]`. One
/// `G` row's partial product is kept at a time, so the transient memory is
/// a little over one filter set.
pub fn transform_weights(v: Variant, weight: &[f32], out_c: usize, in_c: usize, mut sink: impl FnMut(usize, &[f32])) {
    let a = v.alpha();
    // half[o][kx][i] = sum_ky G[r][ky] g[o][ky][kx][i], for the current row r.
    let mut half = vec![0.0f32; out_c * 3 * in_c];
    let mut u = vec![0.0f32; out_c * in_c];
    for r in 0..a {
        for (o, h) in half.chunks_exact_mut(3 * in_c).enumerate() {
            h.fill(0.0);
            for ky in 0..3 {
                let coef = v.g(r, ky);
                if coef != 0.0 {
                    let src = &weight[(o * 9 + ky * 3) * in_c..(o * 9 + ky * 3 + 3) * in_c];
                    axpy(h, coef, src);
                }
            }
        }
        for s in 0..a {
            for (uo, h) in u.chunks_exact_mut(in_c).zip(half.chunks_exact(3 * in_c)) {
                uo.fill(0.0);
                for (kx, hk) in h.chunks_exact(in_c).enumerate() {
                    let coef = v.g(s, kx);
                    if coef != 0.0 {
                        axpy(uo, coef, hk);
                    }
                }
            }
            sink(r * a + s, &u);
        }
    }
}

/// `dst += coef * src`, elementwise (vectorised by the compiler).
#[inline(always)]
fn axpy(dst: &mut [f32], coef: f32, src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += coef * s;
    }
}

/// `dst += Σ_k coef(k) · row(k)` for `k < n`, over channel rows; a zero
/// coefficient or an absent row (padding) adds nothing.
#[inline(always)]
fn combine<'a>(dst: &mut [f32], n: usize, coef: impl Fn(usize) -> f32, row: impl Fn(usize) -> Option<&'a [f32]>) {
    for k in 0..n {
        let c = coef(k);
        if c != 0.0 {
            if let Some(src) = row(k) {
                axpy(dst, c, src);
            }
        }
    }
}

/// One layer's tiling.
pub struct Tiling {
    pub v: Variant,
    tiles_h: usize,
    tiles_w: usize,
    /// Tile rows per block.
    block_rows: usize,
}

impl Tiling {
    pub fn new(v: Variant, g: &Geom) -> Self {
        let m = v.m();
        let (tiles_h, tiles_w) = (g.out_h.div_ceil(m), g.out_w.div_ceil(m));
        let per_tile = v.alpha() * v.alpha() * (g.in_c + g.out_c);
        let block_rows = (SCRATCH / per_tile / tiles_w.max(1)).clamp(1, tiles_h.max(1));
        Tiling { v, tiles_h, tiles_w, block_rows }
    }

    pub fn scratch_len(&self, g: &Geom) -> usize {
        let a2 = self.v.alpha() * self.v.alpha();
        self.block_rows * self.tiles_w * a2 * (g.in_c + g.out_c)
    }

    /// `out = act(conv(input) + bias (+ out))`. `gemm(xi, tiles, v, m)`
    /// computes `M[xi] = V[xi] · U[xi]` for `tiles` tiles: `v` is the block's
    /// `[tile][xi][in_c]`, `m` is `M[xi]` as `[tile][out_c]`; `tr` does the
    /// per-tile transforms.
    #[allow(clippy::too_many_arguments)]
    pub fn run<F>(
        &self,
        g: &Geom,
        input: &[f32],
        bias: &[f32],
        act: Activation,
        out: &mut [f32],
        scratch: &mut [f32],
        accumulate: bool,
        tr: &impl Transforms,
        gemm: F,
    ) -> Result<()>
    where
        F: Fn(usize, usize, &[f32], &mut [f32]) -> Result<()> + Sync + Send,
    {
        let (a, m, s) = (self.v.alpha(), self.v.m(), self.v.stride());
        let (a2, ic, oc) = (a * a, g.in_c, g.out_c);
        let row_len = g.out_w * oc;
        let failed = Mutex::new(None);
        for b in 0..g.batch {
            for ty0 in (0..self.tiles_h).step_by(self.block_rows) {
                let rows = self.block_rows.min(self.tiles_h - ty0);
                let tiles = rows * self.tiles_w;
                let (vbuf, rest) = scratch
                    .get_mut(..tiles * a2 * (ic + oc))
                    .ok_or_else(|| Error::Backend("winograd scratch too small".into()))?
                    .split_at_mut(tiles * a2 * ic);
                par::rows(vbuf, tiles, a2 * ic, TRANSFORM_GRAIN, 1, |ts, v| {
                    let mut tmp = Vec::new();
                    for (t, vt) in ts.zip(v.chunks_exact_mut(a2 * ic)) {
                        let (ty, tx) = (ty0 + t / self.tiles_w, t % self.tiles_w);
                        let patch = Patch::new(self.v, g, b, ty * m * s, tx * m * s);
                        tr.input(self.v, g, input, &patch, &mut tmp, vt);
                    }
                });
                let vbuf = &*vbuf;
                par::rows(rest, a2, tiles * oc, 1, 1, |xis, mx| {
                    for (xi, mx) in xis.zip(mx.chunks_exact_mut(tiles * oc)) {
                        if let (Err(e), Ok(mut first)) = (gemm(xi, tiles, vbuf, mx), failed.lock()) {
                            first.get_or_insert(e);
                        }
                    }
                });
                let mbuf = &*rest;
                let y0 = ty0 * m;
                let y1 = ((ty0 + rows) * m).min(g.out_h);
                let dst = &mut out[(b * g.out_h + y0) * row_len..(b * g.out_h + y1) * row_len];
                par::rows(dst, y1 - y0, row_len, m, m, |ys, o| {
                    let mut tmp = Vec::new();
                    for tr_ in (ys.start / m)..ys.end.div_ceil(m) {
                        let rows_here = m.min(ys.end - tr_ * m);
                        let o = &mut o[(tr_ * m - ys.start) * row_len..(tr_ * m - ys.start + rows_here) * row_len];
                        for tx in 0..self.tiles_w {
                            let ox = tx * m;
                            let ctx = OutTile {
                                mbuf,
                                tile: tr_ * self.tiles_w + tx,
                                tiles,
                                bias,
                                act,
                                accumulate,
                                ox,
                                rows: rows_here,
                                cols: m.min(g.out_w - ox),
                            };
                            tr.output(self.v, g, &ctx, &mut tmp, o);
                        }
                    }
                });
            }
        }
        match failed.into_inner() {
            Ok(Some(e)) => Err(e),
            Ok(None) => Ok(()),
            Err(_) => Err(Error::Backend("winograd GEMM panicked".into())),
        }
    }
}

/// Where one tile's `a x a` input patch lies: the input offset of each
/// patch row and column, `None` where it falls in the padding.
pub struct Patch {
    /// `(b * H + iy) * W` per patch row.
    pub rows: [Option<usize>; 6],
    /// `ix` per patch column.
    pub cols: [Option<usize>; 6],
}

impl Patch {
    /// The patch of image `b` whose value `(0, 0)` is padded input pixel
    /// `(y0, x0)` (the tile's first output pixel times the stride).
    fn new(v: Variant, g: &Geom, b: usize, y0: usize, x0: usize) -> Self {
        let at = |k: usize, pad: usize, size: usize, o: usize| {
            let c = (o + k) as isize - pad as isize;
            (c >= 0 && (c as usize) < size).then_some(c as usize)
        };
        let (mut rows, mut cols) = ([None; 6], [None; 6]);
        for k in 0..v.alpha() {
            rows[k] = at(k, g.h.pad_before, g.h.size, y0).map(|iy| (b * g.h.size + iy) * g.w.size);
            cols[k] = at(k, g.w.pad_before, g.w.size, x0);
        }
        Patch { rows, cols }
    }

    /// Input offset of patch value `(k, x)`'s first channel, if in the image.
    pub fn at(&self, k: usize, x: usize, in_c: usize) -> Option<usize> {
        Some((self.rows[k]? + self.cols[x]?) * in_c)
    }
}

/// The per-tile transforms of [`Tiling::run`]; `tmp` is reusable scratch.
pub trait Transforms: Sync {
    /// `vt[xi][c] = (Bᵀ d B)[xi][c]` for the input patch `p` (zeros outside the image).
    fn input(&self, v: Variant, g: &Geom, input: &[f32], p: &Patch, tmp: &mut Vec<f32>, vt: &mut [f32]);

    /// Writes tile `ctx.tile` (`Aᵀ M A`, then the epilogue) into `o`: the
    /// block's `ctx.rows` output rows, from column `ctx.ox`.
    fn output(&self, v: Variant, g: &Geom, ctx: &OutTile, tmp: &mut Vec<f32>, o: &mut [f32]);
}

/// The reference transforms, one matrix coefficient at a time over channel rows.
pub struct Portable;

impl Transforms for Portable {
    fn input(&self, v: Variant, g: &Geom, input: &[f32], p: &Patch, tmp: &mut Vec<f32>, vt: &mut [f32]) {
        let (a, ic) = (v.alpha(), g.in_c);
        tmp.resize(a * a * ic, 0.0);
        // tmp[i][x] = sum_k Bᵀ[i][k] d[k][x]
        for i in 0..a {
            for x in 0..a {
                let dst = &mut tmp[(i * a + x) * ic..(i * a + x + 1) * ic];
                dst.fill(0.0);
                combine(dst, a, |k| v.bt(i, k), |k| p.at(k, x, ic).map(|src| &input[src..src + ic]));
            }
        }
        // vt[i][j] = sum_k tmp[i][k] B[k][j] = sum_k Bᵀ[j][k] tmp[i][k]
        for i in 0..a {
            for j in 0..a {
                let dst = &mut vt[(i * a + j) * ic..(i * a + j + 1) * ic];
                dst.fill(0.0);
                combine(dst, a, |k| v.bt(j, k), |k| Some(&tmp[(i * a + k) * ic..(i * a + k + 1) * ic]));
            }
        }
    }

    fn output(&self, v: Variant, g: &Geom, ctx: &OutTile, tmp: &mut Vec<f32>, o: &mut [f32]) {
        let (a, oc) = (v.alpha(), g.out_c);
        tmp.resize((ctx.rows * a + 1) * oc, 0.0);
        let (tmp, y) = tmp.split_at_mut(ctx.rows * a * oc);
        // tmp[i][x] = sum_k Aᵀ[i][k] M[k][x]
        for i in 0..ctx.rows {
            for x in 0..a {
                let dst = &mut tmp[(i * a + x) * oc..(i * a + x + 1) * oc];
                dst.fill(0.0);
                combine(dst, a, |k| v.at(i, k), |k| Some(ctx.mat(k * a + x, oc)));
            }
        }
        for i in 0..ctx.rows {
            for j in 0..ctx.cols {
                y.copy_from_slice(ctx.bias);
                combine(y, a, |k| v.at(j, k), |k| Some(&tmp[(i * a + k) * oc..(i * a + k + 1) * oc]));
                let at = (i * g.out_w + ctx.ox + j) * oc;
                let dst = &mut o[at..at + oc];
                if ctx.accumulate {
                    for (d, &s) in dst.iter_mut().zip(y.iter()) {
                        *d = ctx.act.apply(*d + s);
                    }
                } else {
                    for (d, &s) in dst.iter_mut().zip(y.iter()) {
                        *d = ctx.act.apply(s);
                    }
                }
            }
        }
    }
}

/// What the output transform of one tile reads, and where the tile goes.
pub struct OutTile<'a> {
    /// The block's `M`, `[xi][tile][out_c]`.
    pub mbuf: &'a [f32],
    pub tile: usize,
    pub tiles: usize,
    pub bias: &'a [f32],
    pub act: Activation,
    pub accumulate: bool,
    /// First output column of the tile.
    pub ox: usize,
    /// Output rows and columns of the tile inside the image.
    pub rows: usize,
    pub cols: usize,
}

impl OutTile<'_> {
    /// `M[xi]`'s row for this tile.
    pub fn mat(&self, xi: usize, oc: usize) -> &[f32] {
        let at = (xi * self.tiles + self.tile) * oc;
        &self.mbuf[at..at + oc]
    }
}

/// Transformed weights for the portable GEMM: `[xi][out_c][in_c]`.
pub fn portable_weights(v: Variant, weight: &[f32], out_c: usize, in_c: usize) -> Vec<f32> {
    let mut u = Vec::with_capacity(v.alpha() * v.alpha() * out_c * in_c);
    transform_weights(v, weight, out_c, in_c, |_, x| u.extend_from_slice(x));
    u
}

/// The portable GEMM over [`portable_weights`], for [`Tiling::run`].
pub fn portable_gemm<'a>(
    g: &'a Geom,
    v: Variant,
    u: &'a [f32],
) -> impl Fn(usize, usize, &[f32], &mut [f32]) -> Result<()> + Sync + Send + 'a {
    let (a2, ic, oc) = (v.alpha() * v.alpha(), g.in_c, g.out_c);
    move |xi, tiles, vbuf, mx| {
        let a = MatRef { data: vbuf, offset: xi * ic, rs: a2 * ic, cs: 1 };
        let b = MatRef { data: u, offset: xi * oc * ic, rs: 1, cs: ic };
        sgemm(tiles, ic, oc, a, b, 0.0, MatMut { data: mx, offset: 0, rs: oc, cs: 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::window::Axis;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    struct Case {
        batch: usize,
        h: usize,
        w: usize,
        in_c: usize,
        out_c: usize,
        pad: usize,
        residual: bool,
        act: Activation,
    }

    /// The direct conv in f64, with the same epilogue.
    fn direct(c: &Case, g: &Geom, input: &[f32], weight: &[f32], bias: &[f32], res: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; c.batch * g.out_h * g.out_w * c.out_c];
        for b in 0..c.batch {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    for o in 0..c.out_c {
                        let mut s = bias[o] as f64;
                        for (ky, iy) in g.h.taps(oy) {
                            for (kx, ix) in g.w.taps(ox) {
                                for i in 0..c.in_c {
                                    let x = input[((b * c.h + iy) * c.w + ix) * c.in_c + i] as f64;
                                    s += x * weight[((o * 3 + ky) * 3 + kx) * c.in_c + i] as f64;
                                }
                            }
                        }
                        let at = ((b * g.out_h + oy) * g.out_w + ox) * c.out_c + o;
                        if c.residual {
                            s += res[at] as f64;
                        }
                        out[at] = c.act.apply(s as f32);
                    }
                }
            }
        }
        out
    }

    fn check(c: Case, v: Variant) {
        let pad = [c.pad; 4];
        let [h, w] = Axis::hw([c.h, c.w], [3, 3], [v.stride(); 2], pad, [1, 1]).expect("axis");
        let (out_h, out_w) = (h.out_floor().expect("fits"), w.out_floor().expect("fits"));
        let g = Geom { batch: c.batch, in_c: c.in_c, out_c: c.out_c, groups: 1, h, w, out_h, out_w };
        let input = values(c.batch * c.h * c.w * c.in_c, 1);
        let weight = values(c.out_c * 9 * c.in_c, 2);
        let bias = values(c.out_c, 3);
        let res = values(c.batch * out_h * out_w * c.out_c, 4);
        let want = direct(&c, &g, &input, &weight, &bias, &res);
        let tiling = Tiling::new(v, &g);
        let u = portable_weights(v, &weight, c.out_c, c.in_c);
        let mut scratch = vec![0.0; tiling.scratch_len(&g)];
        let mut out = if c.residual { res.clone() } else { vec![f32::NAN; want.len()] };
        tiling
            .run(&g, &input, &bias, c.act, &mut out, &mut scratch, c.residual, &Portable, portable_gemm(&g, v, &u))
            .expect("run");
        // Sums of 9 * in_c products of values in [-1, 1): f32 rounding
        // through the transforms stays far below this.
        let tol = 1e-4 * (9 * c.in_c) as f32;
        for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
            assert!((got - want).abs() <= tol, "{v:?} {}x{}x{}: [{i}] {got} vs {want}", c.h, c.w, c.in_c);
        }
    }

    #[test]
    fn matches_direct_conv_on_odd_shapes() {
        for v in [Variant::F2, Variant::F4, Variant::S2] {
            // H and W not multiples of the tile, padding 0 and 1, channels not multiples of 4.
            for (h, w, pad) in [(7, 7, 1), (9, 5, 0), (6, 11, 1), (3, 3, 0), (1, 1, 1), (13, 10, 1)] {
                for (in_c, out_c) in [(3, 5), (8, 16), (17, 9)] {
                    check(Case { batch: 1, h, w, in_c, out_c, pad, residual: false, act: Activation::None }, v);
                }
            }
            // Batch 2 with a fused residual and activations.
            check(Case { batch: 2, h: 10, w: 9, in_c: 6, out_c: 7, pad: 1, residual: true, act: Activation::Relu }, v);
            let clip = Activation::Clip { min: -0.5, max: 0.5 };
            check(Case { batch: 2, h: 5, w: 8, in_c: 4, out_c: 12, pad: 0, residual: true, act: clip }, v);
        }
    }

    #[test]
    fn blocks_smaller_than_the_map() {
        // Enough channels that a block holds fewer tile rows than the map.
        let c = Case { batch: 1, h: 30, w: 30, in_c: 200, out_c: 300, pad: 1, residual: true, act: Activation::Relu };
        let g_rows = {
            let [a, _] = Axis::hw([30, 30], [3, 3], [1, 1], [1; 4], [1, 1]).expect("axis");
            let g = Geom { batch: 1, in_c: 200, out_c: 300, groups: 1, h: a, w: a, out_h: 30, out_w: 30 };
            let t = Tiling::new(Variant::F4, &g);
            (t.block_rows, t.tiles_h)
        };
        assert!(g_rows.0 < g_rows.1, "{g_rows:?}");
        check(c, Variant::F4);
    }
}

#[cfg(test)]
mod choice_tests {
    use super::*;

    /// A conv step whose output tensor id is its index into `shapes`.
    fn conv(id: usize, in_c: usize, out_c: usize, stride: usize) -> Step {
        Step::Conv(Conv {
            input: 0,
            output: id,
            residual: None,
            in_channels: in_c,
            out_channels: out_c,
            kernel: [3, 3],
            stride: [stride; 2],
            pad: [1; 4],
            dilation: [1, 1],
            groups: 1,
            weight: vec![0.0; out_c * 9 * in_c],
            bias: vec![0.0; out_c],
            activation: Activation::Relu,
            int8: false,
            input_quant: None,
            requant: None,
        })
    }

    #[test]
    fn large_maps_f4_small_maps_f2_strided_on_large_maps_s2() {
        let shapes = [[1, 56, 56, 64], [1, 7, 7, 512], [1, 28, 28, 128], [1, 2, 2, 8], [1, 7, 7, 512]];
        let steps =
            [conv(0, 64, 64, 1), conv(1, 512, 512, 1), conv(2, 64, 128, 2), conv(3, 8, 8, 1), conv(4, 512, 512, 2)];
        let picks = choose(&steps, |c| Some(shapes[c.output]));
        assert_eq!(picks, [Some(Variant::F4), Some(Variant::F2), Some(Variant::S2), None, None]);
    }

    #[test]
    fn extra_weights_stay_within_the_budget() {
        // F(4,3) adds 3x a layer's weights: four layers can't all have it.
        let steps: Vec<Step> = (0..4).map(|i| conv(i, 64, 64, 1)).collect();
        let picks = choose(&steps, |_| Some([1, 56, 56, 64]));
        let extra: usize = picks.iter().flatten().map(|v| (v.alpha() * v.alpha() - 9) * 64 * 64).sum();
        let weights = 4 * 9 * 64 * 64;
        assert!(picks.contains(&Some(Variant::F4)) && picks.iter().any(|&p| p != Some(Variant::F4)), "{picks:?}");
        assert!(extra as f64 <= weights as f64 * EXTRA_WEIGHTS, "{picks:?}");
    }
}
