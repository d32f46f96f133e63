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
/// A piece has at least `grain` rows and a multiple of `align`.
#[cfg_attr(not(feature = "threads"), allow(unused_variables))]
pub fn rows<F>(out: &mut [f32], m: usize, ld: usize, grain: usize, align: usize, f: F)
where
    F: Fn(Range<usize>, &mut [f32]) + Sync + Send,
{
    let out = &mut out[..m * ld];
    #[cfg(feature = "threads")]
    {
        use rayon::prelude::*;
        let piece = piece_rows(m, grain, align, rayon::current_num_threads());
        if piece < m && ld > 0 {
            return out.par_chunks_mut(piece * ld).enumerate().for_each(|(i, o)| {
                let r0 = i * piece;
                f(r0..r0 + o.len() / ld, o)
            });
        }
    }
    f(0..m, out)
}

/// Pieces per thread: more than one, so a thread slowed by other work on
/// the machine hands its share to the others.
#[cfg(feature = "threads")]
const PIECES_PER_THREAD: usize = 4;

/// Rows per piece when `m` rows are cut for `threads` threads (all of them
/// for one thread): at least `grain`, a multiple of `align`, and about even,
/// so the last piece is not a sliver.
#[cfg(feature = "threads")]
fn piece_rows(m: usize, grain: usize, align: usize, threads: usize) -> usize {
    if threads <= 1 {
        return m;
    }
    let pieces = (threads * PIECES_PER_THREAD).min(m / grain.max(1)).max(1);
    m.div_ceil(pieces).next_multiple_of(align.max(1)).max(1)
}

#[cfg(all(test, feature = "threads"))]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_even_and_aligned() {
        for threads in 2..=4 {
            for m in [1, 3, 49, 196, 784, 3136, 12544] {
                let p = piece_rows(m, 16, 4, threads);
                let n = m.div_ceil(p);
                assert!(p % 4 == 0, "m {m} threads {threads}: piece {p}");
                // No empty piece, none past the budget.
                assert!((n - 1) * p < m && n <= threads * PIECES_PER_THREAD, "m {m} threads {threads}: {n} x {p}");
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
