//! The wasm SIMD int8 GEMM: `out = epilogue(A · Wᵀ)`, A's rows activation
//! codes, W packed once at load into panels of [`NR`] output channels.
//!
//! Each [`Lane`] sums `DEPTH` adjacent K values of four output channels into
//! their i32 lanes:
//! - [`Wide`]: `i32x4.dot_i16x8_s`, on codes and weights widened to i16; any
//!   8-bit code;
//! - [`Narrow`] (relaxed SIMD): `i16x8.relaxed_dot_i8x16_i7x16_s`, i8 weights
//!   against activation codes below 128 (its second operand's top bit must be
//!   clear), which is why that build quantizes activations to 7 bits; a grid
//!   the model fixed spans 8 bits and runs on [`Wide`] there;
//!   its [`Fused`] form sums with `i32x4.relaxed_dot_i8x16_i7x16_add_s`
//!   instead, where [`use_fused`] chose it.
//!
//! A `MR x NR` tile keeps its sums in registers over all of K (they cannot
//! overflow: K is bounded by `MAX_K`), so the epilogue runs straight from them.
use core::arch::wasm32::*;
#[cfg(target_feature = "relaxed-simd")]
use std::sync::atomic::{AtomicBool, Ordering};

use super::quant::ActScale;
use super::{Epilogue, Rounding};
use crate::cpu::simd::{on_copy, Act};

/// A packed weight code, and the K values each i32 lane of a dot product
/// on it sums: the packing follows from the weight type alone, so lanes of
/// one weight type share packed weights.
pub trait Packed: Copy + Default + From<i8> + Send + Sync {
    const DEPTH: usize;
}

impl Packed for i16 {
    const DEPTH: usize = 2;
}

impl Packed for i8 {
    const DEPTH: usize = 4;
}

/// One kind of dot product, with the code and weight types it reads.
pub trait Lane {
    /// An activation code as the kernel reads it.
    type Code: Copy + Default + From<u8> + Send + Sync;
    /// A weight code as packed.
    type Weight: Packed;
    /// K values per lane of one dot product.
    const DEPTH: usize = <Self::Weight as Packed>::DEPTH;
    /// Steps of K (DEPTH values each), 1 or 2, per load of a row's codes, each
    /// step's broadcast by a shuffle: fewer loads (dear in some engines'
    /// code for this loop), for a shuffle per step, which competes with the
    /// multiplies for the CPU's vector ports.
    const GROUP: usize;

    /// `acc + w · x` per lane; `ones` is i16 lanes of 1 ([`ones`]).
    fn dot(ones: v128, w: v128, x: v128, acc: v128) -> v128;

    /// Sixteen codes (each lane in range) stored at `dst`.
    ///
    /// # Safety
    /// `dst` must have room for 16 codes.
    unsafe fn store16(q: [v128; 4], dst: *mut Self::Code);
}

/// `i32x4.dot_i16x8_s` on i16 codes and weights.
pub struct Wide;

impl Lane for Wide {
    type Code = i16;
    type Weight = i16;
    // Half the products per step of Narrow, so a shuffle per step would
    // hold up the multiplies more than the saved loads help: one load each.
    const GROUP: usize = 1;

    #[inline(always)]
    fn dot(_: v128, w: v128, x: v128, acc: v128) -> v128 {
        i32x4_add(acc, i32x4_dot_i16x8(w, x))
    }

    #[inline(always)]
    unsafe fn store16(q: [v128; 4], dst: *mut i16) {
        v128_store(dst as *mut v128, i16x8_narrow_i32x4(q[0], q[1]));
        v128_store((dst as *mut v128).add(1), i16x8_narrow_i32x4(q[2], q[3]));
    }
}

/// i8 weights against 7-bit codes with relaxed SIMD's 8-bit dot products,
/// in two forms that give the same sums:
/// - `FUSED = false`: `i16x8.relaxed_dot_i8x16_i7x16_s`, pairs summed in
///   i16 (exact: |2 × 127 × 127| < 2^15), then widened by a dot product with
///   ones: three instructions where the CPU lacks a one-instruction dot
///   product, where engines lower the i32x4 dot-add (which LLVM would fuse
///   `extadd_pairwise` and the add into) to up to five;
/// - `FUSED = true` ([`Fused`]): `i32x4.relaxed_dot_i8x16_i7x16_add_s`, one
///   instruction where the CPU has a 4-way 8-bit dot product that the engine
///   emits (AVX-VNNI).
#[cfg(target_feature = "relaxed-simd")]
pub struct Narrow<const FUSED: bool>;

#[cfg(target_feature = "relaxed-simd")]
impl<const FUSED: bool> Lane for Narrow<FUSED> {
    type Code = u8;
    type Weight = i8;
    // A fused step leaves no room for a broadcast shuffle: the engine's own
    // broadcast load is faster there.
    const GROUP: usize = if FUSED { 1 } else { 2 };

    #[inline(always)]
    fn dot(ones: v128, w: v128, x: v128, acc: v128) -> v128 {
        if FUSED {
            i32x4_relaxed_dot_i8x16_i7x16_add(w, x, acc)
        } else {
            i32x4_add(acc, i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(w, x), ones))
        }
    }

    #[inline(always)]
    unsafe fn store16(q: [v128; 4], dst: *mut u8) {
        let (lo, hi) = (i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
        v128_store(dst as *mut v128, u8x16_narrow_i16x8(lo, hi));
    }
}

/// The one-instruction form, where [`use_fused`] chose it.
#[cfg(target_feature = "relaxed-simd")]
pub type Fused = Narrow<true>;

#[cfg(target_feature = "relaxed-simd")]
static FUSED: AtomicBool = AtomicBool::new(false);

/// Whether the 7-bit GEMMs sum on [`Fused`] instead of [`Best`]: the
/// caller's choice, from what the engine was seen to do. Both give the same
/// sums. False where this build has no [`Fused`].
pub fn use_fused(on: bool) -> bool {
    #[cfg(target_feature = "relaxed-simd")]
    FUSED.store(on, Ordering::Relaxed);
    on && fused()
}

/// Whether [`use_fused`] chose [`Fused`].
pub fn fused() -> bool {
    #[cfg(target_feature = "relaxed-simd")]
    return FUSED.load(Ordering::Relaxed);
    #[cfg(not(target_feature = "relaxed-simd"))]
    false
}

/// The build's fastest lane for codes of [`super::ACT_LEVELS`].
#[cfg(target_feature = "relaxed-simd")]
pub type Best = Narrow<false>;
#[cfg(not(target_feature = "relaxed-simd"))]
pub type Best = Wide;

/// i16 lanes of 1, made opaque: as a constant, an engine may rebuild it at
/// every use in a loop.
#[inline(always)]
fn ones() -> v128 {
    std::hint::black_box(i16x8_splat(1))
}

/// Output channels per panel: two i32x4 sums per row.
pub const NR: usize = 8;
/// Rows per tile: 8 sums, 2 weight vectors, a broadcast code, a product and
/// the ones fit V8's 16 vector registers on x86-64.
pub const MR: usize = 4;

/// `[n][k]` weight codes as `ceil(n / NR)` panels of `[kp / DEPTH][NR][DEPTH]`
/// (K padded with zeros to `kp`, a multiple of `DEPTH`; outputs past `n` zero).
pub struct Panels<W> {
    data: Vec<W>,
    kp: usize,
    n: usize,
}

/// Weights packed for lane `L`.
pub type PanelsOf<L> = Panels<<L as Lane>::Weight>;

impl<W: Packed> Panels<W> {
    pub fn new<T: Copy>(codes: &[T], n: usize, k: usize) -> Self
    where
        W: From<T>,
    {
        let (d, kp) = (W::DEPTH, k.next_multiple_of(W::DEPTH));
        let mut data = vec![W::default(); n.div_ceil(NR) * kp * NR];
        for (o, row) in codes.chunks_exact(k.max(1)).take(n).enumerate() {
            let (j, c) = (o / NR, o % NR);
            for (i, &w) in row.iter().enumerate() {
                data[(j * kp + i / d * d) * NR + c * d + i % d] = W::from(w);
            }
        }
        Panels { data, kp, n }
    }
}

/// A row's length for K values: K rounded up to a multiple of `DEPTH`.
pub fn depth<L: Lane>(k: usize) -> usize {
    k.next_multiple_of(L::DEPTH)
}

/// `out[r][o] = epi(o, Σ_i a[r][i] × w[o][i])` for `rows` rows of `a`
/// (`[rows][kp]`; values past K are multiplied by zero weights).
pub fn gemm<L: Lane>(a: &[L::Code], rows: usize, w: &PanelsOf<L>, epi: &Epilogue, out: &mut [f32]) {
    let (kp, n) = (w.kp, w.n);
    let (a, out) = (&a[..rows * kp], &mut out[..rows * n]);
    let act = Act::new(epi.act);
    let whole = n / NR;
    for j in 0..whole {
        let panel = &w.data[j * kp * NR..(j + 1) * kp * NR];
        for r0 in (0..rows).step_by(MR) {
            let a = &a[r0 * kp..];
            let out = &mut out[r0 * n + j * NR..];
            match MR.min(rows - r0) {
                4 => tile::<L, 4>(a, kp, panel, epi, act, j * NR, n, out),
                3 => tile::<L, 3>(a, kp, panel, epi, act, j * NR, n, out),
                2 => tile::<L, 2>(a, kp, panel, epi, act, j * NR, n, out),
                _ => tile::<L, 1>(a, kp, panel, epi, act, j * NR, n, out),
            }
        }
    }
    if whole * NR < n {
        partial_panel::<L>(a, rows, w, epi, act, out);
    }
}

/// `R` rows of `a` (rows `kp` apart) against one panel, then the epilogue
/// of outputs `o..o + NR` into `R` rows of `out` (rows `n` apart).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile<L: Lane, const R: usize>(
    a: &[L::Code],
    kp: usize,
    panel: &[L::Weight],
    epi: &Epilogue,
    act: Act,
    o: usize,
    n: usize,
    out: &mut [f32],
) {
    let acc = sums::<L, R>(a, kp, panel);
    for (r, acc) in acc.iter().enumerate() {
        finish(epi, act, o, acc, &mut out[r * n..]);
    }
}

/// [`gemm`]'s last panel where it is partial, each tile on a copy padded to
/// a whole panel ([`on_copy`]), out of line from the whole panels.
#[inline(never)]
fn partial_panel<L: Lane>(a: &[L::Code], rows: usize, w: &PanelsOf<L>, epi: &Epilogue, act: Act, out: &mut [f32]) {
    let (kp, n, j) = (w.kp, w.n, w.n / NR);
    let o = j * NR;
    for r0 in (0..rows).step_by(MR) {
        let tile_rows = MR.min(rows - r0);
        on_copy(&mut out[r0 * n + o..], n, (tile_rows, n - o, NR), epi.accumulate, |c, ld| {
            let acc = panel_sums::<L>(&a[r0 * kp..], tile_rows, w, j);
            for (r, acc) in acc.iter().take(tile_rows).enumerate() {
                finish(epi, act, o, acc, &mut c[r * ld..]);
            }
        });
    }
}

/// Panel `j`'s sums for `rows` (1 to [`MR`]) rows of `a` (rows `kp` apart):
/// per row, two vectors of four outputs' sums.
pub fn panel_sums<L: Lane>(a: &[L::Code], rows: usize, w: &PanelsOf<L>, j: usize) -> [[v128; 2]; MR] {
    let kp = w.kp;
    let panel = &w.data[j * kp * NR..(j + 1) * kp * NR];
    let mut out = [[i32x4_splat(0); 2]; MR];
    match rows.min(MR) {
        4 => out = sums::<L, 4>(a, kp, panel),
        3 => out[..3].copy_from_slice(&sums::<L, 3>(a, kp, panel)),
        2 => out[..2].copy_from_slice(&sums::<L, 2>(a, kp, panel)),
        _ => out[..1].copy_from_slice(&sums::<L, 1>(a, kp, panel)),
    }
    out
}

/// `R` rows of `a` (rows `kp` apart) against one panel: the i32 sums.
/// The row and panel pointers step on through K rather than being indexed
/// by it: the wasm build has no loop strength reduction to do that.
#[inline(always)]
fn sums<L: Lane, const R: usize>(a: &[L::Code], kp: usize, panel: &[L::Weight]) -> [[v128; 2]; R] {
    let rows: [&[L::Code]; R] = std::array::from_fn(|r| &a[r * kp..(r + 1) * kp]);
    let (mut pa, mut pw) = (rows.map(|s| s.as_ptr()), panel.as_ptr() as *const v128);
    let mut acc = [[i32x4_splat(0); 2]; R];
    let ones = ones();
    let (steps, whole) = (kp / L::DEPTH, kp / L::DEPTH / L::GROUP * L::GROUP);
    for _ in (0..whole).step_by(L::GROUP) {
        // SAFETY: at step q (q + GROUP <= kp / DEPTH) each row pointer is at
        // code q × DEPTH with GROUP × DEPTH codes (4 or 8 bytes) left, and
        // the panel's at vector 2q, 2 per step.
        unsafe {
            if L::GROUP == 2 {
                let x: [v128; R] = pa.map(|p| v128_load64_splat(p as *const u64));
                step::<L, R, 0>(&mut acc, ones, pw, &x);
                step::<L, R, 1>(&mut acc, ones, pw.add(2), &x);
            } else {
                let x: [v128; R] = pa.map(|p| v128_load32_splat(p as *const u32));
                step::<L, R, 0>(&mut acc, ones, pw, &x);
            }
            pa = pa.map(|p| p.add(L::GROUP * L::DEPTH));
            pw = pw.add(2 * L::GROUP);
        }
    }
    for _ in whole..steps {
        // SAFETY: as above, for one step (DEPTH codes are 4 bytes).
        unsafe {
            let x: [v128; R] = pa.map(|p| v128_load32_splat(p as *const u32));
            step::<L, R, 0>(&mut acc, ones, pw, &x);
            pa = pa.map(|p| p.add(L::DEPTH));
            pw = pw.add(2);
        }
    }
    acc
}

/// The epilogue of one row's sums `acc` for outputs `o..o + NR` into the
/// first `NR` values of `dst`.
#[inline(always)]
pub fn finish(epi: &Epilogue, act: Act, o: usize, acc: &[v128; 2], dst: &mut [f32]) {
    let (offset, scale, bias) = (load2(&epi.offset[o..]), load2(&epi.scale[o..]), load2(&epi.bias[o..]));
    let prev = epi.accumulate.then(|| load2(dst));
    let y: [v128; 2] = match epi.rounding {
        Some(r) => rounded(r, o, [i32x4_sub(acc[0], offset[0]), i32x4_sub(acc[1], offset[1])]),
        None => std::array::from_fn(|h| {
            let sum = f32x4_convert_i32x4(i32x4_sub(acc[h], offset[h]));
            let v = f32x4_add(f32x4_mul(sum, scale[h]), bias[h]);
            act.apply(prev.map_or(v, |p| f32x4_add(v, p[h])))
        }),
    };
    store2(dst, &y);
}

/// [`finish`] into outputs `cols` (at most [`NR`], from a panel's first) of
/// the row `out`: a partial panel through [`on_copy`].
pub fn finish_cols(epi: &Epilogue, act: Act, cols: &std::ops::Range<usize>, acc: &[v128; 2], out: &mut [f32]) {
    let (o, nv) = (cols.start, cols.len());
    if nv == NR {
        return finish(epi, act, o, acc, &mut out[o..]);
    }
    on_copy(&mut out[o..], 0, (1, nv, NR), epi.accumulate, |c, _| finish(epi, act, o, acc, c));
}

/// [`Rounding::apply`] on outputs `o..o + NR`: the same wrapping add,
/// conversion, product, clamp and rounding (ties to even), lane by lane.
#[inline(always)]
fn rounded(r: &Rounding, o: usize, sum: [v128; 2]) -> [v128; 2] {
    let (bias, mult) = (load2(&r.bias[o..]), load2(&r.mult[o..]));
    let (lo, hi, step) = (f32x4_splat(r.lo), f32x4_splat(r.hi), f32x4_splat(r.step));
    std::array::from_fn(|h| {
        let v = f32x4_mul(f32x4_convert_i32x4(i32x4_add(sum[h], bias[h])), mult[h]);
        f32x4_mul(f32x4_nearest(f32x4_pmin(hi, f32x4_pmax(lo, v))), step)
    })
}

/// One step of K: lane `S` of each row's `x` (a broadcast of 4-byte lanes)
/// against the two weight vectors at `w`.
///
/// # Safety
/// `w` must point at two vectors.
#[inline(always)]
unsafe fn step<L: Lane, const R: usize, const S: usize>(
    acc: &mut [[v128; 2]; R],
    ones: v128,
    w: *const v128,
    x: &[v128; R],
) {
    let (w0, w1) = (v128_load(w), v128_load(w.add(1)));
    for r in 0..R {
        let x = i32x4_shuffle::<S, S, S, S>(x[r], x[r]);
        acc[r][0] = L::dot(ones, w0, x, acc[r][0]);
        acc[r][1] = L::dot(ones, w1, x, acc[r][1]);
    }
}

fn load2<T>(s: &[T]) -> [v128; 2] {
    let s = &s[..32 / std::mem::size_of::<T>()];
    // SAFETY: s holds 32 bytes; v128_load has no alignment requirement.
    unsafe { [v128_load(s.as_ptr() as *const v128), v128_load((s.as_ptr() as *const v128).add(1))] }
}

fn store2(d: &mut [f32], v: &[v128; 2]) {
    let d = &mut d[..NR];
    // SAFETY: d holds NR = 8 values, two vectors.
    unsafe {
        v128_store(d.as_mut_ptr() as *mut v128, v[0]);
        v128_store((d.as_mut_ptr() as *mut v128).add(1), v[1]);
    }
}

/// [`ActScale::of`] four lanes at a time. `pmin`/`pmax` skip NaNs as the
/// scalar fold does, and min and max are exact, so the scale is the same.
pub fn act_scale(x: &[f32], levels: u8) -> ActScale {
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        // SAFETY: c holds 4 values.
        let v = unsafe { v128_load(c.as_ptr() as *const v128) };
        (lo, hi) = (f32x4_pmin(lo, v), f32x4_pmax(hi, v));
    }
    let lanes = |v: v128| {
        [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)]
    };
    let lo = lanes(lo).into_iter().chain(rest.iter().copied()).fold(0f32, f32::min);
    let hi = lanes(hi).into_iter().chain(rest.iter().copied()).fold(0f32, f32::max);
    ActScale::spanning(lo, hi, levels)
}

/// [`ActScale::codes`] sixteen at a time: the same arithmetic, rounding
/// (ties to even) and clamp, so the same codes. Clamped first, a value
/// plus 2^23 has its rounded integer in the low bits: an add and a subtract
/// where rounding and a saturating conversion take several instructions.
pub fn codes<L: Lane>(a: &ActScale, x: &[f32], out: &mut Vec<L::Code>) {
    out.clear();
    out.resize(x.len(), L::Code::default());
    let c = a.coder();
    let (zero, hi, lo) = (f32x4_splat(c.zero), f32x4_splat(c.hi), f32x4_splat(0.0));
    let (scale, inv) = (f32x4_splat(c.scale), f32x4_splat(c.inv));
    let magic = f32x4_splat(8_388_608.0);
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for (ch, d) in chunks.zip(out.chunks_exact_mut(16)) {
        let q: [v128; 4] = std::array::from_fn(|i| {
            // SAFETY: ch holds 16 values.
            let v = unsafe { v128_load(ch.as_ptr().add(4 * i) as *const v128) };
            // A fixed grid rounds before adding the zero point, as scalar.
            let y = if c.fixed {
                f32x4_add(f32x4_nearest(f32x4_div(v, scale)), zero)
            } else {
                f32x4_add(f32x4_mul(v, inv), zero)
            };
            // Rounding commutes with a clamp to whole bounds; NaN goes to 0.
            let y = f32x4_pmin(hi, f32x4_pmax(lo, y));
            i32x4_sub(f32x4_add(y, magic), magic)
        });
        // SAFETY: d holds 16 codes.
        unsafe { L::store16(q, d.as_mut_ptr()) };
    }
    let tail = x.len() - rest.len();
    for (d, &v) in out[tail..].iter_mut().zip(rest) {
        *d = L::Code::from(c.code(v));
    }
}
