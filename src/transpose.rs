//! Cache-friendly 2-D transpose of f32 matrices: how the planner and the CPU
//! backend reorder weights between layouts.

/// Writes the transpose of the row-major `rows x cols` matrix `src` into
/// `dst`, whose rows are `ld >= rows` apart: `dst[c * ld + r] = src[r * cols + c]`.
/// Values past column `rows` of each destination row are left as they are.
///
/// Source rows move in strips: each destination row then takes a strip's
/// values contiguously while the strip's rows are read forward, so reads and
/// writes both walk cache lines instead of striding over the whole matrix.
/// Strips of 16 fill a cache line; 8 fit a packed GEMM panel (`NR` wide).
pub(crate) fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize) {
    let r0 = strips::<16>(src, rows, cols, dst, ld, 0);
    let r0 = strips::<8>(src, rows, cols, dst, ld, r0);
    strips::<1>(src, rows, cols, dst, ld, r0);
}

/// Row-major `rows x cols` -> a new row-major `cols x rows`.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut dst = vec![0.0; rows * cols];
    transpose_into(src, rows, cols, &mut dst, rows);
    dst
}

/// Moves rows `r0..` in strips of `N` while a whole strip is left; returns
/// the first row not moved.
fn strips<const N: usize>(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], ld: usize, mut r0: usize) -> usize {
    while r0 + N <= rows {
        // A fixed `N` lets the compiler unroll the copy into each destination row.
        let strip: [&[f32]; N] = std::array::from_fn(|i| &src[(r0 + i) * cols..(r0 + i + 1) * cols]);
        for c in 0..cols {
            for (d, row) in dst[c * ld + r0..c * ld + r0 + N].iter_mut().zip(strip) {
                *d = row[c];
            }
        }
        r0 += N;
    }
    r0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mix of strip sizes, into wider destination rows too.
    #[test]
    fn matches_the_definition() {
        for rows in 0..=41 {
            for cols in [0, 1, 3, 8, 13] {
                let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
                for ld in [rows, rows + 3] {
                    let mut dst = vec![-1.0; cols * ld];
                    transpose_into(&src, rows, cols, &mut dst, ld);
                    for c in 0..cols {
                        for r in 0..ld {
                            let want = if r < rows { src[r * cols + c] } else { -1.0 };
                            assert_eq!(dst[c * ld + r], want, "{rows}x{cols} ld {ld} at ({c}, {r})");
                        }
                    }
                }
                assert_eq!(transpose(&src, rows, cols).len(), rows * cols);
            }
        }
    }
}
