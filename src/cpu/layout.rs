//! Physical layout ops, Permute and Pad, both built on one strided N-D copy.
use std::ops::Range;

use super::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{strides, TensorId};

/// Copies every index of `shape` from `src[src_off + idx·src_strides]` to
/// `dst[dst_off + idx·dst_strides]`, one dimension in a tight loop: the last
/// where it is contiguous on both sides, else the longest (an NCHW -> NHWC
/// permute would otherwise loop over its 3 channels per pixel).
struct StridedCopy {
    shape: Vec<usize>,
    src_off: usize,
    src_strides: Vec<usize>,
    dst_off: usize,
    dst_strides: Vec<usize>,
}

impl StridedCopy {
    fn run(&self, src: &[f32], dst: &mut [f32]) {
        let rank = self.shape.len();
        if rank == 0 {
            dst[self.dst_off] = src[self.src_off];
            return;
        }
        if self.shape.contains(&0) {
            return;
        }
        let contiguous = self.src_strides[rank - 1] == 1 && self.dst_strides[rank - 1] == 1;
        let d_in =
            if contiguous { rank - 1 } else { (0..rank).rev().max_by_key(|&d| self.shape[d]).unwrap_or(rank - 1) };
        let (inner, si, di) = (self.shape[d_in], self.src_strides[d_in], self.dst_strides[d_in]);
        let outer: Vec<usize> = (0..rank).filter(|&d| d != d_in).collect();
        let mut idx = vec![0usize; outer.len()];
        let (mut s0, mut d0) = (self.src_off, self.dst_off);
        loop {
            if si == 1 && di == 1 {
                dst[d0..d0 + inner].copy_from_slice(&src[s0..s0 + inner]);
            } else {
                for j in 0..inner {
                    dst[d0 + j * di] = src[s0 + j * si];
                }
            }
            // Odometer over the outer dimensions, offsets kept incrementally.
            let mut i = outer.len();
            loop {
                if i == 0 {
                    return;
                }
                i -= 1;
                let d = outer[i];
                idx[i] += 1;
                s0 += self.src_strides[d];
                d0 += self.dst_strides[d];
                if idx[i] < self.shape[d] {
                    break;
                }
                s0 -= self.shape[d] * self.src_strides[d];
                d0 -= self.shape[d] * self.dst_strides[d];
                idx[i] = 0;
            }
        }
    }
}

/// `out_shape[i] = in_shape[perm[i]]`, written in output order.
pub struct PermuteKernel {
    input: Range<usize>,
    output: Range<usize>,
    copy: StridedCopy,
}

impl PermuteKernel {
    pub fn new(input: TensorId, output: TensorId, in_shape: &[usize], perm: &[usize], t: &Tensors) -> Result<Self> {
        let (ti, to) = (t.get(input)?, t.get(output)?);
        let mut seen = vec![false; perm.len()];
        let valid = perm.len() == in_shape.len()
            && perm.iter().all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true));
        let n: usize = in_shape.iter().product();
        if !valid || n != ti.len() || n != to.len() {
            return Err(Error::Backend(format!(
                "perm {perm:?} of shape {in_shape:?} doesn't fit '{}' ({} values) -> '{}' ({} values)",
                ti.name,
                ti.len(),
                to.name,
                to.len()
            )));
        }
        let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
        let in_strides = strides(in_shape);
        let copy = StridedCopy {
            src_off: 0,
            src_strides: perm.iter().map(|&p| in_strides[p]).collect(),
            dst_off: 0,
            dst_strides: strides(&out_shape),
            shape: out_shape,
        };
        Ok(PermuteKernel { input: ti.range(), output: to.range(), copy })
    }
}

impl Kernel for PermuteKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        self.copy.run(reads.get(&self.input)?, out);
        Ok(())
    }
}

/// Constant padding: fill with `value`, then copy the input into the interior.
pub struct PadKernel {
    input: Range<usize>,
    output: Range<usize>,
    value: f32,
    copy: StridedCopy,
}

impl PadKernel {
    pub fn new(input: TensorId, output: TensorId, pads: &[(usize, usize)], value: f32, t: &Tensors) -> Result<Self> {
        let (ti, to) = (t.get(input)?, t.get(output)?);
        let padded: Vec<usize> = ti.shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
        if pads.len() != ti.shape.len() || padded != to.shape {
            return Err(Error::Backend(format!(
                "padding {:?} by {pads:?} gives {padded:?}, output is {:?}",
                ti.shape, to.shape
            )));
        }
        let dst_strides = strides(&padded);
        let copy = StridedCopy {
            src_off: 0,
            src_strides: strides(&ti.shape),
            dst_off: pads.iter().zip(&dst_strides).map(|(&(b, _), s)| b * s).sum(),
            dst_strides,
            shape: ti.shape.clone(),
        };
        Ok(PadKernel { input: ti.range(), output: to.range(), value, copy })
    }
}

impl Kernel for PadKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        out.fill(self.value);
        self.copy.run(reads.get(&self.input)?, out);
        Ok(())
    }
}
