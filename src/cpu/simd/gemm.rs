//! Packed-weight GEMM with an `MR x NR` register-blocked SIMD128 microkernel.
//!
//! `C[m][n] = act(sum_k A[m][k] * B[k][n] + bias[n] (+ C[m][n]))`, where A's
//! rows are read from a [`Rows`] source (conv taps, no im2col of the whole
//! input) and B is packed once at load into column panels of `NR`
//! ([`PackedB`]).
//!
//! Blocking: K is cut into blocks of about `KC` values so one B panel block
//! (`KC x NR`) stays in L1, and rows into blocks of `MC`, packed into tiles
//! ([`pack_a`]) that stay in L2 while every panel sweeps over them. Partial sums of
//! earlier K blocks live in C; the epilogue runs on the last one.
use core::arch::wasm32::*;
use std::ops::Range;

use super::{madd, on_copy, Act};
use crate::plan::Activation;
use crate::transpose::transpose_into;

/// Panel width: two f32x4 accumulators per row.
pub const NR: usize = 8;
/// Rows per microkernel tile. V8 allocates 15 vector registers on x86-64,
/// and its older versions load everything a loop step reads at the step's
/// top: the tile's sums, B's two vectors and each row's A value must fit.
/// With fused multiply-adds a tile has 5 rows: 10 independent sums keep both
/// multiply-add units busy where 8 wait on their latency, and rows 0 to 3
/// come from one load as lane shuffles, which the engine computes next to
/// their use (10 + 2 + A's vector, row 4's broadcast and one shuffle). With
/// a separate multiply and add, each product needs a register too: 4 rows.
pub const MR: usize = if cfg!(target_feature = "relaxed-simd") { 5 } else { 4 };
/// K values per block (a `KC x NR` B panel block is 16 KiB).
const KC: usize = 512;
/// Rows per block, a multiple of `MR`.
const MC: usize = 96 / MR * MR;
/// Segments shorter than this (a first conv's 3 channels per tap) are
/// gathered into contiguous rows first ([`Rows::gather`], which can copy a
/// kernel row's taps at once): packed segment by segment, each copy would
/// move only a few values.
const GATHER_BELOW: usize = 16;

/// B (`k x n`, plus a bias per column) packed as `ceil(n / NR)` panels of
/// `[k][NR]`, zero padded past `n`.
pub struct PackedB {
    data: Vec<f32>,
    bias: Vec<f32>,
    k: usize,
    n: usize,
}

impl PackedB {
    /// `bt` is B transposed, `[n][k]` row-major: weights stored per output
    /// (OHWI filters, Dense rows). Panel `j` is then the transpose of its
    /// rows `j * NR..`.
    pub fn new(k: usize, n: usize, bias: &[f32], bt: &[f32]) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0; panels * k * NR];
        for (j, panel) in data.chunks_exact_mut((k * NR).max(1)).enumerate() {
            transpose_into(&bt[j * NR * k..], NR.min(n - j * NR), k, panel, NR);
        }
        let mut padded = vec![0.0; panels * NR];
        padded[..n].copy_from_slice(&bias[..n]);
        PackedB { data, bias: padded, k, n }
    }

    /// Panel `j`'s B rows `ks`, `NR` values each.
    fn rows(&self, j: usize, ks: Range<usize>) -> &[f32] {
        let base = j * self.k * NR;
        &self.data[base + ks.start * NR..base + ks.end * NR]
    }
}

/// The A operand: row `m` is `segs()` segments of `seg_len()` contiguous
/// values (one per conv tap; zeros for taps in the padding).
pub trait Rows {
    fn segs(&self) -> usize;
    fn seg_len(&self) -> usize;
    /// Values `chans` of segment `s` of row `m`.
    fn seg(&self, m: usize, s: usize, chans: Range<usize>) -> &[f32];

    /// Rows `ms`, each its segments one after another, into `dst`.
    fn gather(&self, ms: Range<usize>, dst: &mut [f32]) {
        let len = self.seg_len();
        for (m, row) in ms.clone().zip(dst.chunks_exact_mut(len * self.segs())) {
            for (s, d) in row.chunks_exact_mut(len).enumerate() {
                d.copy_from_slice(self.seg(m, s, 0..len));
            }
        }
    }
}

/// A row-major matrix as A: one segment per row.
pub struct Matrix<'a> {
    pub data: &'a [f32],
    pub cols: usize,
}

impl Rows for Matrix<'_> {
    fn segs(&self) -> usize {
        1
    }

    fn seg_len(&self) -> usize {
        self.cols
    }

    fn seg(&self, m: usize, _s: usize, chans: Range<usize>) -> &[f32] {
        &self.data[m * self.cols + chans.start..m * self.cols + chans.end]
    }
}

/// Where one GEMM writes: `C[m][n]` is `data[m * ld + col + n]`.
pub struct Out<'a> {
    pub data: &'a mut [f32],
    pub ld: usize,
    pub col: usize,
    /// C already holds an addend (the residual) to accumulate onto.
    pub accumulate: bool,
}

/// A K block: segments `segs`, channels `chans` of each.
struct KBlock {
    segs: Range<usize>,
    chans: Range<usize>,
}

/// K blocks of about `KC` values: whole segments grouped when short, long
/// segments split evenly.
fn k_blocks(segs: usize, seg_len: usize) -> Vec<KBlock> {
    if seg_len >= KC {
        let pieces = seg_len.div_ceil(KC);
        let step = seg_len.div_ceil(pieces);
        (0..segs)
            .flat_map(|s| {
                (0..seg_len).step_by(step).map(move |c| KBlock { segs: s..s + 1, chans: c..(c + step).min(seg_len) })
            })
            .collect()
    } else {
        let per = (KC / seg_len.max(1)).max(1);
        (0..segs).step_by(per).map(|s| KBlock { segs: s..(s + per).min(segs), chans: 0..seg_len }).collect()
    }
}

/// `out = act(rows · B + bias (+ out))` for rows `0..m`. Out of line:
/// inlined into a Winograd step's function, V8 compiled its loops slower.
#[inline(never)]
pub fn gemm(rows: &impl Rows, m: usize, b: &PackedB, act: Activation, out: Out) {
    let (segs, seg_len) = (rows.segs(), rows.seg_len());
    debug_assert_eq!(segs * seg_len, b.k);
    if seg_len < GATHER_BELOW && segs > 1 {
        return gather(rows, m, b, act, out);
    }
    let act = Act::new(act);
    let blocks = k_blocks(segs, seg_len);
    let mut packed = Vec::new();
    for (bi, block) in blocks.iter().enumerate() {
        let (first, last) = (bi == 0, bi + 1 == blocks.len());
        // The block's K values are contiguous in B: whole segments, or part of one.
        let ks = block.segs.start * seg_len + block.chans.start..(block.segs.end - 1) * seg_len + block.chans.end;
        let tile_len = ks.len() * MR;
        for m0 in (0..m).step_by(MC) {
            let mc = MC.min(m - m0);
            pack_a(rows, m, m0..m0 + mc, block, &mut packed);
            // Each tile's packed A and its first row.
            let tiles = packed.chunks_exact(tile_len).zip((m0..m0 + mc).step_by(MR));
            let load = !first || out.accumulate;
            // A last tile of one row runs across several panels at once
            // below: alone, its two sums per panel would wait on the
            // multiply-add latency about as long as a full tile takes.
            let lone = usize::from(mc % MR == 1);
            let full = mc.div_ceil(MR) - lone;
            for j in 0..b.n.div_ceil(NR) {
                let nv = NR.min(b.n - j * NR);
                let tile = Tile {
                    b: b.rows(j, ks.clone()),
                    load,
                    epilogue: last.then_some((&b.bias[j * NR..(j + 1) * NR], act)),
                };
                let whole_tiles = tiles.clone().take(full);
                if nv < NR {
                    let c = &mut out.data[out.col + j * NR..];
                    tile.run_partial_panel(whole_tiles, m, c, out.ld, nv);
                    continue;
                }
                for (i, (at, t0)) in whole_tiles.enumerate() {
                    if i == 1 && j + 1 < b.n.div_ceil(NR) {
                        touch(b.rows(j + 1, ks.clone()));
                    }
                    let c = &mut out.data[t0 * out.ld + out.col + j * NR..];
                    tile.run_rows(MR.min(m - t0), at, c, out.ld);
                }
            }
            if lone == 1 {
                let at = &packed[full * tile_len..][..tile_len];
                let t0 = m0 + full * MR;
                let c = &mut out.data[t0 * out.ld + out.col..];
                let row = RowPanels { b, ks: ks.clone(), load, epilogue: last.then_some(act) };
                let whole = b.n / NR;
                let mut j = 0;
                while j < whole {
                    let c = &mut c[j * NR..];
                    j += match whole - j {
                        1 => row.run::<1>(at, c, j),
                        2 | 3 => row.run::<2>(at, c, j),
                        _ => row.run::<4>(at, c, j),
                    };
                }
                if whole * NR < b.n {
                    row.run_partial(at, &mut c[whole * NR..], whole);
                }
            }
        }
    }
}

/// Reads one value per 64-byte line of `next` (the next panel's weights)
/// while the later tiles of this panel run on weights already in cache.
/// Weights that come from memory for few rows (a small map's Winograd
/// GEMMs) otherwise arrive at the pace of the first tile, faster than
/// memory delivers them; wasm has no prefetch instruction.
#[inline(never)]
fn touch(next: &[f32]) {
    let mut sum = 0u32;
    for &x in next.iter().step_by(16) {
        sum = sum.wrapping_add(x.to_bits());
    }
    std::hint::black_box(sum);
}

/// Packs rows `ms` of K block `block` into `a` as `[tile][k][MR]`: one
/// contiguous stream per tile, which the microkernel reads through one
/// pointer at constant offsets. Rows past `m` repeat row `m - 1`; their
/// sums are never stored.
fn pack_a(rows: &impl Rows, m: usize, ms: Range<usize>, block: &KBlock, a: &mut Vec<f32>) {
    let len = block.chans.len();
    let tile_len = block.segs.len() * len * MR;
    a.resize(ms.len().div_ceil(MR) * tile_len, 0.0);
    for (dst, t0) in a.chunks_exact_mut(tile_len).zip(ms.step_by(MR)) {
        for (d, s) in dst.chunks_exact_mut(len * MR).zip(block.segs.clone()) {
            let src: [&[f32]; MR] = std::array::from_fn(|r| rows.seg((t0 + r).min(m - 1), s, block.chans.clone()));
            interleave(src, d);
        }
    }
}

/// `d[k * MR + r] = src[r][k]`: rows 0 to 3 transposed four values at a
/// time, a fifth row's values stored between them.
#[inline(always)]
fn interleave(src: [&[f32]; MR], d: &mut [f32]) {
    let len = d.len() / MR;
    let src = src.map(|s| &s[..len]);
    let quads = len / 4;
    for q in 0..quads {
        let d = &mut d[4 * q * MR..4 * (q + 1) * MR];
        let [r0, r1, r2, r3] = std::array::from_fn(|r| load4(&src[r][4 * q..]));
        let lo01 = u32x4_shuffle::<0, 4, 1, 5>(r0, r1);
        let lo23 = u32x4_shuffle::<0, 4, 1, 5>(r2, r3);
        let hi01 = u32x4_shuffle::<2, 6, 3, 7>(r0, r1);
        let hi23 = u32x4_shuffle::<2, 6, 3, 7>(r2, r3);
        let cols = [
            u64x2_shuffle::<0, 2>(lo01, lo23),
            u64x2_shuffle::<1, 3>(lo01, lo23),
            u64x2_shuffle::<0, 2>(hi01, hi23),
            u64x2_shuffle::<1, 3>(hi01, hi23),
        ];
        for (k, col) in cols.into_iter().enumerate() {
            store4(&mut d[k * MR..], col);
            if let Some(fifth) = src.get(4) {
                d[k * MR + 4] = fifth[4 * q + k];
            }
        }
    }
    for k in 4 * quads..len {
        for (r, s) in src.iter().enumerate() {
            d[k * MR + r] = s[k];
        }
    }
}

/// [`gemm`] over row blocks gathered into a contiguous `[MC][k]` matrix.
fn gather(rows: &impl Rows, m: usize, b: &PackedB, act: Activation, out: Out) {
    let k = b.k;
    let mut block = vec![0.0; MC.min(m) * k];
    for m0 in (0..m).step_by(MC) {
        let mc = MC.min(m - m0);
        rows.gather(m0..m0 + mc, &mut block[..mc * k]);
        let a = Matrix { data: &block[..mc * k], cols: k };
        let data = &mut out.data[m0 * out.ld..];
        gemm(&a, mc, b, act, Out { data, ld: out.ld, col: out.col, accumulate: out.accumulate });
    }
}

/// One K block of one panel, applied to a tile of rows.
struct Tile<'b> {
    /// The panel's B rows of the block, `NR` values each.
    b: &'b [f32],
    /// Start from C's contents (partial sums or the residual) rather than 0.
    load: bool,
    /// Bias and activation, on the last K block.
    epilogue: Option<(&'b [f32], Act)>,
}

impl Tile<'_> {
    /// [`Tile::run`] on a tile of `rows` rows.
    #[inline(always)]
    fn run_rows(&self, rows: usize, a: &[f32], c: &mut [f32], ld: usize) {
        match rows {
            5 => self.run::<5>(a, c, ld),
            4 => self.run::<4>(a, c, ld),
            3 => self.run::<3>(a, c, ld),
            2 => self.run::<2>(a, c, ld),
            _ => self.run::<1>(a, c, ld),
        }
    }

    /// The tiles `(packed A, first row)` of a partial panel of `nv` columns,
    /// each on a copy padded to a whole panel ([`on_copy`]). `c` is row 0's
    /// first column of the panel. Out of line, away from the whole panels'
    /// tiles: see [`on_copy`].
    #[inline(never)]
    fn run_partial_panel<'a>(
        &self,
        tiles: impl Iterator<Item = (&'a [f32], usize)>,
        m: usize,
        c: &mut [f32],
        ld: usize,
        nv: usize,
    ) {
        for (at, t0) in tiles {
            let rows = MR.min(m - t0);
            on_copy(&mut c[t0 * ld..], ld, (rows, nv, NR), self.load, |c, ld| self.run_rows(rows, at, c, ld));
        }
    }

    /// `a`: the tile's packed A (rows past `R` unused); `c`: row 0's first
    /// column of the panel, rows `ld` apart, `NR` columns each.
    #[inline(always)]
    fn run<const R: usize>(&self, a: &[f32], c: &mut [f32], ld: usize) {
        let mut acc = [[f32x4_splat(0.0); 2]; R];
        if self.load {
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = load2(&c[r * ld..]);
            }
        }
        accumulate(&mut acc, a, self.b);
        if let Some((bias, act)) = self.epilogue {
            let bias = load2(bias);
            for acc in acc.iter_mut() {
                *acc = finish(*acc, bias, act);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            store2(&mut c[r * ld..], acc);
        }
    }
}

/// One K block of one row over several panels: `P` panels' sums are
/// independent chains where one panel's two would wait on each other.
/// Per column, the same sums in the same order as [`Tile::run`].
struct RowPanels<'b> {
    b: &'b PackedB,
    ks: Range<usize>,
    load: bool,
    epilogue: Option<Act>,
}

impl RowPanels<'_> {
    /// Whole panels `j..j + P` of the row: `a` its packed A (row 0 of the
    /// tile), `c` the row from panel `j`'s first column. Returns `P`.
    /// Out of line: inlined, it made V8's code for the tiles in [`gemm`]
    /// slower.
    #[inline(never)]
    fn run<const P: usize>(&self, a: &[f32], c: &mut [f32], j: usize) -> usize {
        let mut acc = [[f32x4_splat(0.0); 2]; P];
        if self.load {
            for (p, acc) in acc.iter_mut().enumerate() {
                *acc = load2(&c[p * NR..]);
            }
        }
        let len = self.ks.len();
        let mut pa = a[..len * MR].as_ptr();
        let mut pb: [*const f32; P] = std::array::from_fn(|p| self.b.rows(j + p, self.ks.clone()).as_ptr());
        for _ in 0..len {
            // SAFETY: pa reads a[k * MR] for k < len, checked above, and
            // pb[p] panel p's len * NR B values.
            unsafe {
                let x = v128_load32_splat(pa as *const u32);
                for (acc, pb) in acc.iter_mut().zip(pb.iter_mut()) {
                    acc[0] = madd(x, v128_load(*pb as *const v128), acc[0]);
                    acc[1] = madd(x, v128_load(pb.add(4) as *const v128), acc[1]);
                    *pb = pb.add(NR);
                }
                pa = pa.add(MR);
            }
        }
        for (p, acc) in acc.iter_mut().enumerate() {
            if let Some(act) = self.epilogue {
                *acc = finish(*acc, load2(&self.b.bias[(j + p) * NR..]), act);
            }
            store2(&mut c[p * NR..], acc);
        }
        P
    }

    /// The row's partial last panel `j` ([`RowPanels::run`] on a padded
    /// copy), out of line like [`Tile::run_partial_panel`].
    #[inline(never)]
    fn run_partial(&self, a: &[f32], c: &mut [f32], j: usize) {
        on_copy(c, 0, (1, self.b.n - j * NR, NR), self.load, |c, _| {
            self.run::<1>(a, c, j);
        });
    }
}

/// The microkernel: `acc[r] += a[k][r] * b[k]` over a packed tile, one B
/// row (two vectors) and one broadcast A value per row per step. One
/// pointer reads every row at constant offsets, which the engine folds into
/// the loads' addresses.
#[inline(always)]
fn accumulate<const R: usize>(acc: &mut [[v128; 2]; R], a: &[f32], b: &[f32]) {
    let len = a.len() / MR;
    let b = &b[..len * NR];
    // Packed tiles are whole (rows past `m` repeated): all MR values of each
    // k are there to load even where R < MR.
    let mut pa = a[..len * MR].as_ptr();
    let mut pb = b.as_ptr();
    for _ in 0..len {
        // SAFETY: pa reads a[k * MR + r] for k < len, r < MR, and pb
        // b[k * NR..][..NR], both checked above.
        unsafe {
            let b0 = v128_load(pb as *const v128);
            let b1 = v128_load(pb.add(4) as *const v128);
            let first4 = v128_load(pa as *const v128);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = if MR == 5 && r < 4 { lane(first4, r) } else { v128_load32_splat(pa.add(r) as *const u32) };
                acc[0] = madd(x, b0, acc[0]);
                acc[1] = madd(x, b1, acc[1]);
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
}

/// Lane `r` of `a` in every lane.
#[inline(always)]
fn lane(a: v128, r: usize) -> v128 {
    match r {
        0 => i32x4_shuffle::<0, 0, 0, 0>(a, a),
        1 => i32x4_shuffle::<1, 1, 1, 1>(a, a),
        2 => i32x4_shuffle::<2, 2, 2, 2>(a, a),
        _ => i32x4_shuffle::<3, 3, 3, 3>(a, a),
    }
}

fn load4(s: &[f32]) -> v128 {
    let s = &s[..4];
    // SAFETY: s has 4 values.
    unsafe { v128_load(s.as_ptr() as *const v128) }
}

fn store4(d: &mut [f32], v: v128) {
    let d = &mut d[..4];
    // SAFETY: d has 4 values.
    unsafe { v128_store(d.as_mut_ptr() as *mut v128, v) }
}

/// The bias and activation on one row's sums of a panel.
#[inline(always)]
fn finish(acc: [v128; 2], bias: [v128; 2], act: Act) -> [v128; 2] {
    [act.apply(f32x4_add(acc[0], bias[0])), act.apply(f32x4_add(acc[1], bias[1]))]
}

fn load2(s: &[f32]) -> [v128; 2] {
    let s = &s[..NR];
    // SAFETY: s has NR = 8 values; v128_load has no alignment requirement.
    unsafe { [v128_load(s.as_ptr() as *const v128), v128_load(s.as_ptr().add(4) as *const v128)] }
}

fn store2(d: &mut [f32], v: &[v128; 2]) {
    let d = &mut d[..NR];
    // SAFETY: d has NR = 8 values.
    unsafe {
        v128_store(d.as_mut_ptr() as *mut v128, v[0]);
        v128_store(d.as_mut_ptr().add(4) as *mut v128, v[1]);
    }
}
