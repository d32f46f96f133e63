//! Physical layout ops, Permute and Pad, both built on one strided N-D copy.
use std::ops::Range;

use super::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{strides, TensorId};

/// Copies every index of `shape` from `src[src_off + idx·src_strides]` to
/// `dst[dst_off + idx·dst_strides]`, one dimension in a tight loop: the last
/// where it is contiguous on both sides, else the longest (a permute that
/// moves a short axis last would otherwise loop over its few values).
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
    how: Permutation,
}

enum Permutation {
    /// Axis 1 moved last, the rest in order (NCHW -> NHWC): per leading
    /// index, `planes` planes of `plane` values interleaved.
    ChannelsLast {
        planes: usize,
        plane: usize,
    },
    Strided(StridedCopy),
}

/// `dst[p * C + c] = src[c * plane + p]` for one image: one pass that
/// writes each pixel's channels together, where the strided copy would
/// write every `C`th value in `C` passes. `C` fixed (0: `planes`) so the
/// common 3-channel input unrolls.
fn interleave<const C: usize>(src: &[f32], dst: &mut [f32], planes: usize, plane: usize) {
    let c = if C > 0 { C } else { planes };
    let (src, dst) = (&src[..c * plane], &mut dst[..c * plane]);
    for (p, px) in dst.chunks_exact_mut(c).enumerate() {
        for (ch, d) in px.iter_mut().enumerate() {
            *d = src[ch * plane + p];
        }
    }
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
        let rank = perm.len();
        let channels_last =
            rank >= 3 && perm[0] == 0 && perm[rank - 1] == 1 && (2..rank).eq(perm[1..rank - 1].iter().copied());
        let how = if channels_last && n > 0 {
            Permutation::ChannelsLast { planes: in_shape[1], plane: in_shape[2..].iter().product() }
        } else {
            let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
            let in_strides = strides(in_shape);
            Permutation::Strided(StridedCopy {
                src_off: 0,
                src_strides: perm.iter().map(|&p| in_strides[p]).collect(),
                dst_off: 0,
                dst_strides: strides(&out_shape),
                shape: out_shape,
            })
        };
        Ok(PermuteKernel { input: ti.range(), output: to.range(), how })
    }
}

impl Kernel for PermuteKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        match self.how {
            Permutation::ChannelsLast { planes, plane } => {
                let image = planes * plane;
                for (src, dst) in input.chunks_exact(image).zip(out.chunks_exact_mut(image)) {
                    match planes {
                        3 => interleave::<3>(src, dst, planes, plane),
                        _ => interleave::<0>(src, dst, planes, plane),
                    }
                }
            }
            Permutation::Strided(ref copy) => copy.run(input, out),
        }
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
