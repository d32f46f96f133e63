//! The portable int8 GEMM: the reference the SIMD kernels are tested against.
use super::Epilogue;

/// Rows per pass over the weights: their A rows stay in cache while every
/// output's weight row sweeps them.
const ROWS: usize = 16;

/// `out[r][o] = epilogue(Σ_i a[r][i] * w[o][i])` for `rows` rows of `a`
/// (`[rows][k]`) against `w` (`[n][k]`). Four rows share each weight load.
pub fn gemm(a: &[u8], rows: usize, w: &[i8], k: usize, epi: &Epilogue, out: &mut [f32]) {
    let n = epi.n;
    for r0 in (0..rows).step_by(ROWS) {
        let r1 = (r0 + ROWS).min(rows);
        for (o, wr) in w.chunks_exact(k).enumerate() {
            let mut r = r0;
            while r + 4 <= r1 {
                let ar: [&[u8]; 4] = std::array::from_fn(|i| &a[(r + i) * k..(r + i + 1) * k]);
                let mut acc = [0i32; 4];
                for (i, &y) in wr.iter().enumerate() {
                    let y = i32::from(y);
                    for (acc, ar) in acc.iter_mut().zip(&ar) {
                        *acc += i32::from(ar[i]) * y;
                    }
                }
                for (i, &acc) in acc.iter().enumerate() {
                    epi.apply(o, acc, &mut out[(r + i) * n + o]);
                }
                r += 4;
            }
            for r in r..r1 {
                let ar = &a[r * k..(r + 1) * k];
                let acc: i32 = ar.iter().zip(wr).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
                epi.apply(o, acc, &mut out[r * n + o]);
            }
        }
    }
}

/// A grouped conv's shape as [`grouped`] reads it.
#[derive(Clone, Copy)]
pub struct Groups {
    /// Kernel taps (`kh × kw`).
    pub taps: usize,
    pub in_c: usize,
    pub groups: usize,
}

/// `out[r][o] = epilogue(Σ_t Σ_c a[r][t][c0 + c] * w[o][t][c])` for `rows`
/// rows of `a` (`[rows][taps][in_c]`, every input channel per tap) against
/// `w` (`[n][taps][in_c / groups]`), where `c0` starts output `o`'s group.
pub fn grouped(a: &[u8], rows: usize, w: &[i8], s: Groups, epi: &Epilogue, out: &mut [f32]) {
    let n = epi.n;
    let (cg, og) = (s.in_c / s.groups, n / s.groups);
    let kp = s.taps * s.in_c;
    for (r, ar) in a.chunks_exact(kp).take(rows).enumerate() {
        for (o, wr) in w.chunks_exact(s.taps * cg).enumerate() {
            let c0 = o / og * cg;
            let acc: i32 = ar
                .chunks_exact(s.in_c)
                .zip(wr.chunks_exact(cg))
                .map(|(x, w)| x[c0..c0 + cg].iter().zip(w).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum::<i32>())
                .sum();
            epi.apply(o, acc, &mut out[r * n + o]);
        }
    }
}

/// `[n][taps]` depthwise codes as `[taps][n]`, for [`depthwise`].
pub fn by_tap(w: &[i8], n: usize, taps: usize) -> Vec<i8> {
    (0..taps).flat_map(|t| (0..n).map(move |o| w[o * taps + t])).collect()
}

/// `out[r][o] = epilogue(Σ_t a[r][t][o] * w[t][o])` for `rows` rows of `a`
/// (`[rows][taps][n]`): a depthwise conv, each tap one pass over the
/// channels, which vectorizes.
pub fn depthwise(a: &[u8], rows: usize, w: &[i8], taps: usize, epi: &Epilogue, out: &mut [f32]) {
    let n = epi.n;
    let mut acc = vec![0i32; n];
    for (ar, out) in a.chunks_exact(taps * n).take(rows).zip(out.chunks_exact_mut(n)) {
        acc.fill(0);
        for (x, w) in ar.chunks_exact(n).zip(w.chunks_exact(n)) {
            // A code times a weight (at most 255 × 127) fits i16, whose
            // products are one instruction on every target.
            for ((acc, &x), &w) in acc.iter_mut().zip(x).zip(w) {
                *acc += i32::from(i16::from(x) * i16::from(w));
            }
        }
        for (o, (&acc, out)) in acc.iter().zip(out).enumerate() {
            epi.apply(o, acc, out);
        }
    }
}
