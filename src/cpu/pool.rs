//! Windowed max/average pooling and global average pooling over NHWC.
use std::ops::Range;

use super::window::Axis;
use super::{split, Kernel, Tensors};
use crate::error::{Error, Result};
use crate::plan::{Pool, PoolKind, TensorId};

pub struct PoolKernel {
    input: Range<usize>,
    output: Range<usize>,
    kind: PoolKind,
    batch: usize,
    c: usize,
    h: Axis,
    w: Axis,
    out_h: usize,
    out_w: usize,
}

impl PoolKernel {
    pub fn new(p: &Pool, t: &Tensors) -> Result<Self> {
        let [n, ih, iw, c] = t.nhwc(p.input)?;
        let [on, oh, ow, oc] = t.nhwc(p.output)?;
        let [h, w] = Axis::hw([ih, iw], p.kernel, p.stride, p.pad, p.dilation)?;
        // Floor or ceil rounding: the plan decides, both keep every window
        // starting inside the padded extent.
        let fits = |a: &Axis, o| a.out_floor() == Some(o) || a.out_ceil() == Some(o);
        if on != n || oc != c || !fits(&h, oh) || !fits(&w, ow) {
            return Err(Error::Backend(format!(
                "output [{on},{oh},{ow},{oc}] doesn't fit input [{n},{ih},{iw},{c}] and window"
            )));
        }
        Ok(PoolKernel {
            input: t.get(p.input)?.range(),
            output: t.get(p.output)?.range(),
            kind: p.kind,
            batch: n,
            c,
            h,
            w,
            out_h: oh,
            out_w: ow,
        })
    }
}

impl Kernel for PoolKernel {
    /// Per output pixel, a channel vector reduced over in-image taps.
    /// A window with no in-image cell (possible only when padding reaches a
    /// whole kernel) yields 0 rather than -inf or NaN.
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        let c = self.c;
        // Input offsets of the current window's in-image cells.
        let mut taps = Vec::with_capacity(self.h.kernel * self.w.kernel);
        let mut pixels = out.chunks_exact_mut(c.max(1));
        for b in 0..self.batch {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    let Some(acc) = pixels.next() else {
                        return Ok(());
                    };
                    taps.clear();
                    for (_, iy) in self.h.taps(oy) {
                        for (_, ix) in self.w.taps(ox) {
                            taps.push(((b * self.h.size + iy) * self.w.size + ix) * c);
                        }
                    }
                    match self.kind {
                        // From -inf, `v > a` keeps f32::max's result (NaN never
                        // wins) and vectorises under simd128, where f32::max
                        // is a call to fmaxf per element.
                        PoolKind::Max => reduce(input, &taps, acc, f32::NEG_INFINITY, |a, v| if v > a { v } else { a }),
                        PoolKind::Avg { .. } => reduce(input, &taps, acc, 0.0, |a, v| a + v),
                    }
                    let divisor = match self.kind {
                        PoolKind::Avg { count_include_pad: true } => self.h.padded_taps(oy) * self.w.padded_taps(ox),
                        _ => taps.len(),
                    };
                    if taps.is_empty() {
                        acc.fill(0.0);
                    } else if let PoolKind::Avg { .. } = self.kind {
                        let inv = 1.0 / divisor as f32;
                        acc.iter_mut().for_each(|a| *a *= inv);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Channels per register-held chunk of [`reduce`]: four f32x4 vectors.
const CHUNK: usize = 16;

/// `acc[i] = op(..op(init, input[t0 + i]).., input[tn + i])` over the taps
/// `t`, [`CHUNK`] channels at a time with the partial results in registers
/// rather than read and written back per tap.
#[inline(always)]
fn reduce(input: &[f32], taps: &[usize], acc: &mut [f32], init: f32, op: impl Fn(f32, f32) -> f32 + Copy) {
    let c0 = acc.len() / CHUNK * CHUNK;
    for (i, d) in acc[..c0].chunks_exact_mut(CHUNK).enumerate() {
        d.copy_from_slice(&reduce_chunk::<CHUNK>(input, taps, i * CHUNK, init, op));
    }
    for (i, d) in acc.iter_mut().enumerate().skip(c0) {
        *d = reduce_chunk::<1>(input, taps, i, init, op)[0];
    }
}

/// [`reduce`] for channels `c0..c0 + N`.
#[inline(always)]
fn reduce_chunk<const N: usize>(
    input: &[f32],
    taps: &[usize],
    c0: usize,
    init: f32,
    op: impl Fn(f32, f32) -> f32,
) -> [f32; N] {
    let mut acc = [init; N];
    for &t in taps {
        let x = &input[t + c0..t + c0 + N];
        for (a, &v) in acc.iter_mut().zip(x) {
            *a = op(*a, v);
        }
    }
    acc
}

/// `[n,h,w,c] -> [n,1,1,c]`, the mean over h and w.
pub struct GlobalAvgPoolKernel {
    input: Range<usize>,
    output: Range<usize>,
    pixels: usize,
    c: usize,
}

impl GlobalAvgPoolKernel {
    pub fn new(input: TensorId, output: TensorId, t: &Tensors) -> Result<Self> {
        let [n, h, w, c] = t.nhwc(input)?;
        let out = t.get(output)?;
        if out.len() != n * c || c == 0 || h * w == 0 {
            return Err(Error::Backend(format!("output shape {:?} is not [{n},1,1,{c}]", out.shape)));
        }
        Ok(GlobalAvgPoolKernel { input: t.get(input)?.range(), output: out.range(), pixels: h * w, c })
    }
}

impl Kernel for GlobalAvgPoolKernel {
    fn run(&self, arena: &mut [f32], _scratch: &mut [f32]) -> Result<()> {
        let (reads, out) = split(arena, &self.output)?;
        let input = reads.get(&self.input)?;
        let inv = 1.0 / self.pixels.max(1) as f32;
        for (acc, image) in out.chunks_exact_mut(self.c).zip(input.chunks_exact((self.pixels * self.c).max(1))) {
            acc.fill(0.0);
            for x in image.chunks_exact(self.c) {
                acc.iter_mut().zip(x).for_each(|(a, &v)| *a += v);
            }
            acc.iter_mut().for_each(|a| *a *= inv);
        }
        Ok(())
    }
}
