//! Splitting a kernel's output rows over threads. With the `threads`
//! feature the pieces run on the rayon pool (in the browser, the web workers
//! that wasm-bindgen-rayon's `initThreadPool` starts); without it, or with a
//! pool of one, the kernel gets all rows in one call.
//!
//! Each output row is computed by exactly one call, in the order one thread
//! would, so results are bit-identical whatever the thread count.
use std::ops::Range;

/// Calls `f(rows, out_rows)` over disjoint row ranges covering `0..m`, where
/// `out_rows` is `out`'s rows `rows` (row `r` is `out[r * ld..(r + 1) * ld]`).
/// A piece has at least `grain` rows and starts on a multiple of `align`.
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub fn rows<F>(out: &mut [f32], m: usize, ld: usize, grain: usize, align: usize, f: F)
where
    F: Fn(Range<usize>, &mut [f32]) + Sync + Send,
{
    let out = &mut out[..m * ld];
    #[cfg(feature = "threads")]
    {
        use rayon::prelude::*;
        let starts = piece_starts(m, grain, align, rayon::current_num_threads());
        if starts.len() > 1 {
            let mut pieces = Vec::with_capacity(starts.len());
            let mut rest = out;
            for (i, &r0) in starts.iter().enumerate() {
                let r1 = starts.get(i + 1).copied().unwrap_or(m);
                let (piece, tail) = rest.split_at_mut((r1 - r0) * ld);
                pieces.push((r0..r1, piece));
                rest = tail;
            }
            return pieces.into_par_iter().for_each(|(r, o)| f(r, o));
        }
    }
    f(0..m, out)
}

/// Pieces per thread: more than one, so a thread slowed by other work on
/// the machine hands its share to the others.
#[cfg(feature = "threads")]
const PIECES_PER_THREAD: usize = 4;

/// The first rows of the pieces `m` rows are cut into for `threads` threads
/// (one piece for one thread): a multiple of `threads` pieces where there
/// are enough rows, so each thread gets as many, of about equal size (they
/// differ by less than `align` rows), each at least `grain` rows.
#[cfg(feature = "threads")]
fn piece_starts(m: usize, grain: usize, align: usize, threads: usize) -> Vec<usize> {
    // A piece of at least `align` rows keeps the rounded-down starts apart.
    let most = (threads * PIECES_PER_THREAD).min(m / grain.max(align).max(1));
    let pieces = if most >= threads { most / threads * threads } else { most.max(1) };
    let align = align.max(1);
    (0..pieces).map(|i| i * m / pieces / align * align).collect()
}

#[cfg(all(test, feature = "threads"))]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_even_and_aligned() {
        for threads in 2..=4 {
            for m in [1, 3, 49, 196, 784, 3136, 12544] {
                let starts = piece_starts(m, 16, 4, threads);
                let n = starts.len();
                let sizes: Vec<usize> = (0..n).map(|i| starts.get(i + 1).unwrap_or(&m) - starts[i]).collect();
                let what = format!("m {m} threads {threads}: {sizes:?}");
                assert!(starts[0] == 0 && starts.iter().all(|s| s % 4 == 0), "{what}");
                assert!(sizes.iter().all(|&s| s >= 16 || n == 1), "{what}");
                assert!(n <= threads * PIECES_PER_THREAD && (n == 1 || n % threads == 0 || n < threads), "{what}");
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo < 2 * 4, "{what}");
            }
        }
    }

    #[test]
    fn every_row_once_on_a_pool() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("pool");
        for (m, ld) in [(1, 3), (49, 5), (197, 2), (3136, 1)] {
            let mut out = vec![0.0f32; m * ld];
            pool.install(|| {
                rows(&mut out, m, ld, 8, 4, |r, o| {
                    assert_eq!(o.len(), r.len() * ld);
                    for (i, v) in o.iter_mut().enumerate() {
                        *v += (r.start * ld + i) as f32 + 1.0;
                    }
                })
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32 + 1.0), "m {m} ld {ld}");
        }
    }
}
