//! The two quantizers: weights to int8 codes with one scale per output
//! channel, activations to unsigned codes with one scale and zero point per
//! tensor.

use crate::cpu::elementwise::round_half_even;
use crate::plan::ActQuant;

/// The largest weight code magnitude (symmetric: -128 is unused), as in the
/// model file's int8 weights.
const WEIGHT_MAX: f32 = 127.0;

/// The largest activation code: 7 bits in a relaxed-SIMD build, whose dot
/// product needs its second operand below 128, else 8. The portable kernels
/// use the same, so they stay the exact reference for that build's SIMD ones.
pub const ACT_LEVELS: u8 = if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) { 127 } else { 255 };

/// A `[n][k]` weight matrix as int8 codes: `w[o][i] ≈ codes[o][i] * scale[o]`.
pub struct WeightCodes {
    /// `[n][k]`
    pub codes: Vec<i8>,
    pub scale: Vec<f32>,
    /// Each output's code sum: what the activations' zero point contributes.
    pub sums: Vec<i32>,
}

impl WeightCodes {
    /// The per-row codes of `w` (`n` rows of `k`), which are `code * scale`
    /// already ([`row_scale`]).
    pub fn new(w: &[f32], n: usize, k: usize) -> Self {
        let scales: Vec<f32> = w.chunks_exact(k.max(1)).take(n).map(row_scale).collect();
        Self::with_scales(w, n, k, &scales)
    }

    /// The codes of `w` on the given scales, one per row: a QDQ model's,
    /// whose rows are exactly `code * scale`.
    pub fn with_scales(w: &[f32], n: usize, k: usize, scales: &[f32]) -> Self {
        let mut codes = Vec::with_capacity(n * k);
        let mut sums = Vec::with_capacity(n);
        for (row, &s) in w.chunks_exact(k.max(1)).take(n).zip(scales) {
            let start = codes.len();
            codes.extend(row.iter().map(|v| (v / s).round().clamp(-WEIGHT_MAX, WEIGHT_MAX) as i8));
            sums.push(codes[start..].iter().map(|&q| i32::from(q)).sum());
        }
        WeightCodes { codes, scale: scales[..n.min(scales.len())].to_vec(), sums }
    }
}

/// How far from an integer `w / scale` may be for `w` to count as a code
/// times `scale`: far above f32 rounding of a code times a scale, far below
/// what a scale off the grid leaves.
const ON_GRID: f32 = 1e-3;

/// The scale whose multiples are `row`'s values: `max |w| / m` for the largest
/// code magnitude `m` (at most 127) that makes every value a whole multiple.
/// The model file's codes reach 127 in every row, found at once; a QDQ
/// model's rows may peak lower, when its scales have a floor. A row on no
/// such grid gets `max / 127`.
fn row_scale(row: &[f32]) -> f32 {
    let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    // An all-zero row codes exactly with any positive scale.
    if !(max > 0.0 && max.is_finite()) {
        return 1.0;
    }
    let on_grid = |s: f32| row.iter().all(|v| (v / s - (v / s).round()).abs() <= ON_GRID);
    (1..=WEIGHT_MAX as u8).rev().map(|m| max / f32::from(m)).find(|&s| on_grid(s)).unwrap_or(max / WEIGHT_MAX)
}

/// A tensor's activation codes: `x ≈ scale * (code - zero)`, codes in
/// `0..=levels`. The range always holds 0, so zero padding is exactly `zero`.
#[derive(Debug, Clone, Copy)]
pub struct ActScale {
    pub scale: f32,
    pub zero: u8,
    pub levels: u8,
    /// Set by the model (a QDQ pair) rather than taken from the input.
    pub fixed: bool,
}

impl ActScale {
    /// The scale that spans `x`'s range (NaNs ignored) with `levels` steps.
    pub fn of(x: &[f32], levels: u8) -> Self {
        let (lo, hi) = x.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        Self::spanning(lo, hi, levels)
    }

    /// The scale for values in `lo..=hi` (`lo <= 0 <= hi`).
    pub fn spanning(lo: f32, hi: f32, levels: u8) -> Self {
        let span = hi - lo;
        let scale = if span > 0.0 && span.is_finite() { span / f32::from(levels) } else { 1.0 };
        let zero = (-lo / scale).round().clamp(0.0, f32::from(levels)) as u8;
        ActScale { scale, zero, levels, fixed: false }
    }

    /// A grid the model fixed: codes of all 8 bits.
    pub fn fixed(q: ActQuant) -> Self {
        ActScale { scale: q.scale, zero: q.zero, levels: u8::MAX, fixed: true }
    }

    /// `x` as codes into `out` (resized to fit).
    pub fn codes<T: From<u8>>(&self, x: &[f32], out: &mut Vec<T>) {
        let c = self.coder();
        out.clear();
        out.extend(x.iter().map(|&v| T::from(c.code(v))));
    }

    /// What coding a value takes, worked out once per tensor.
    pub fn coder(&self) -> Coder {
        Coder {
            scale: self.scale,
            inv: 1.0 / self.scale,
            zero: f32::from(self.zero),
            hi: f32::from(self.levels),
            fixed: self.fixed,
        }
    }
}

/// [`ActScale`] as the coding loops read it.
#[derive(Debug, Clone, Copy)]
pub struct Coder {
    pub scale: f32,
    pub inv: f32,
    pub zero: f32,
    /// The largest code.
    pub hi: f32,
    pub fixed: bool,
}

impl Coder {
    /// The code of `v`. Ties round to even, as the SIMD kernels' one
    /// instruction does. A fixed grid codes as ONNX's QuantizeLinear does
    /// (divide, round, saturate), so values a quantize step left on it come
    /// back as the same codes.
    #[inline(always)]
    pub fn code(&self, v: f32) -> u8 {
        // Saturating before rounding gives the same codes: the bounds are whole.
        let q = if self.fixed {
            round_half_even((v / self.scale).max(-self.zero).min(self.hi - self.zero)) + self.zero
        } else {
            round_half_even((v * self.inv + self.zero).max(0.0).min(self.hi))
        };
        q as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_codes_come_back() {
        let (s0, s1) = (0.013f32, 2.5e-4f32);
        let q = [[127i8, -3, 0, 64], [-127, 1, 100, -50]];
        let w: Vec<f32> =
            q[0].iter().map(|&c| f32::from(c) * s0).chain(q[1].iter().map(|&c| f32::from(c) * s1)).collect();
        let c = WeightCodes::new(&w, 2, 4);
        assert_eq!(c.codes, q.concat());
        assert_eq!(c.sums, [188, -76]);
        assert!((c.scale[0] / s0 - 1.0).abs() < 1e-6 && (c.scale[1] / s1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rows_peaking_under_127_keep_their_codes() {
        let s = 0.0371f32;
        let q = [100i8, -7, 0, 33, -100, 1];
        let w: Vec<f32> = q.iter().map(|&c| f32::from(c) * s).collect();
        let c = WeightCodes::new(&w, 1, q.len());
        assert_eq!(c.codes, q);
        assert!((c.scale[0] / s - 1.0).abs() < 1e-6);
    }

    #[test]
    fn fixed_grids_round_half_to_even_and_saturate() {
        let a = ActScale::fixed(ActQuant { scale: 0.5, zero: 10 });
        let mut codes: Vec<u8> = Vec::new();
        a.codes(&[0.25, 0.75, -0.25, 1.25, -6.0, 200.0, 0.0], &mut codes);
        assert_eq!(codes, [10, 12, 10, 12, 0, 255, 10]);
    }

    #[test]
    fn activations_span_their_range_and_zero() {
        let a = ActScale::of(&[-1.0, 0.5, 3.0, f32::NAN], 255);
        assert_eq!(a.zero, 64);
        let mut codes: Vec<u8> = Vec::new();
        a.codes(&[-1.0, 0.0, 3.0, 9.0, -9.0], &mut codes);
        assert_eq!(codes, [0, 64, 255, 255, 0]);
        let positive = ActScale::of(&[0.5, 2.0], 127);
        assert_eq!((positive.zero, positive.scale), (0, 2.0 / 127.0));
        let zeros = ActScale::of(&[0.0; 3], 255);
        assert_eq!((zeros.zero, zeros.scale), (0, 1.0));
    }
}
