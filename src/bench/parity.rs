//! Whether GPU logits match the CPU reference: the largest difference
//! against the reference's logit range, within the weight precision's
//! bound, and the same top classes in every batch row.

use crate::gpu::Precision;

#[derive(Debug, Clone)]
pub struct Parity {
    /// max |gpu - cpu| / (max cpu - min cpu).
    pub ratio: f64,
    pub bound: f64,
    /// How many top classes must agree per row.
    pub top_k: usize,
    pub top_match: bool,
}

impl Parity {
    pub fn ok(&self) -> bool {
        self.ratio <= self.bound && self.top_match
    }
}

/// f16 weights round each to 11 significant bits, so only top-1 is held to.
fn criterion(precision: Precision) -> (f64, usize) {
    match precision {
        Precision::F32 => (1e-3, 5),
        Precision::F16 => (2e-2, 1),
    }
}

/// Class indices of `row`, largest first, first `k` only.
fn top(row: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Compares `got` with `want`, both `rows x classes`.
pub fn compare(got: &[f32], want: &[f32], classes: usize, precision: Precision) -> Parity {
    let (bound, k) = criterion(precision);
    let (lo, hi) = want.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let finite = got.len() == want.len() && got.iter().all(|v| v.is_finite());
    // A constant reference, or a non-finite or short result, cannot pass.
    let ratio = if finite && hi > lo { f64::from(diff) / f64::from(hi - lo) } else { f64::INFINITY };
    let top_k = if classes <= 2 { 1 } else { classes.min(k) };
    let top_match = finite
        && got.chunks(classes.max(1)).zip(want.chunks(classes.max(1))).all(|(g, c)| top(g, top_k) == top(c, top_k));
    Parity { ratio, bound, top_k, top_match }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_and_past_the_bound() {
        let want = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let close: Vec<f32> = want.iter().map(|v| v + 1e-4).collect();
        assert!(compare(&close, &want, 7, Precision::F32).ok());
        let far: Vec<f32> = want.iter().map(|v| v + 0.1).collect();
        let p = compare(&far, &want, 7, Precision::F32);
        assert!(!p.ok() && p.top_match && p.ratio > p.bound);
        assert!(compare(&far, &want, 7, Precision::F16).ok());
        let mut swapped = want;
        swapped.swap(5, 6);
        assert!(!compare(&swapped, &want, 7, Precision::F16).top_match);
        assert!(!compare(&[f32::NAN; 7], &want, 7, Precision::F16).ok());
        assert!(!compare(&want, &[1.0; 7], 7, Precision::F16).ok());
    }
}
