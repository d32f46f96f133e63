//! Safe wrapper over `matrixmultiply::sgemm`, plus the shared bias/activation epilogue.
use crate::error::{Error, Result};
use crate::plan::Activation;

/// A read-only strided matrix view: element `(r, c)` is `data[offset + r*rs + c*cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A writable strided matrix view, laid out like [`MatRef`].
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

/// Checks that every element of a `rows x cols` view lies inside `len`.
fn check(what: &str, len: usize, offset: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    let last = (rows.max(1) - 1)
        .checked_mul(rs)
        .and_then(|r| (cols.max(1) - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
        .and_then(|x| x.checked_add(offset));
    match last {
        Some(last) if last < len && isize::try_from(rs.max(cs)).is_ok() => Ok(()),
        _ => Err(Error::Backend(format!("gemm: {what} view ({rows}x{cols}) out of bounds"))),
    }
}

/// `C <- A·B + beta·C` with `A: m x k`, `B: k x n`, `C: m x n`.
/// With `beta == 0`, C is write-only (its old contents are never read).
pub fn sgemm(m: usize, k: usize, n: usize, a: MatRef, b: MatRef, beta: f32, c: MatMut) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    check("A", a.data.len(), a.offset, m, k, a.rs, a.cs)?;
    check("B", b.data.len(), b.offset, k, n, b.rs, b.cs)?;
    check("C", c.data.len(), c.offset, m, n, c.rs, c.cs)?;
    // Distinct (r, c) must address distinct elements of C.
    let distinct = match (m > 1, n > 1) {
        (false, false) => true,
        (true, false) => c.rs > 0,
        (false, true) => c.cs > 0,
        (true, true) => (c.cs > 0 && c.rs >= n * c.cs) || (c.rs > 0 && c.cs >= m * c.rs),
    };
    if !distinct {
        return Err(Error::Backend("gemm: C strides alias elements".into()));
    }
    // SAFETY: every element addressed through the three views was bounds-checked
    // above (strides fit in isize); A and B are shared borrows and C a unique one,
    // so C cannot alias them, and C's strides were checked not to alias itself.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr().add(a.offset),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr().add(b.offset),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.data.as_mut_ptr().add(c.offset),
            c.rs as isize,
            c.cs as isize,
        );
    }
    Ok(())
}

/// Epilogue over rows of `bias.len()` channels: `x = act(x + bias[c])`.
/// Kept as one pass over contiguous rows so the compiler vectorises it.
pub fn bias_act(rows: &mut [f32], bias: &[f32], act: Activation) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x = act.apply(*x + b);
        }
    }
}
