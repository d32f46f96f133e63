//! The Winograd GEMMs on the SIMD128 microkernel: one [`PackedB`] per
//! transformed position `xi`, A rows read in place from the block's `V`.
use std::ops::Range;

use super::gemm::{gemm, Out, PackedB, Rows};
use crate::cpu::conv::Geom;
use crate::cpu::winograd::{transform_weights, Variant};
use crate::plan::Activation;

/// Packs `U[xi]` (`in_c x out_c`) for every `xi`, with zero bias: the
/// epilogue runs after the output transform.
pub fn pack(v: Variant, weight: &[f32], out_c: usize, in_c: usize) -> Vec<PackedB> {
    let zeros = vec![0.0; out_c];
    let mut packed = Vec::with_capacity(v.alpha() * v.alpha());
    transform_weights(v, weight, out_c, in_c, |_, u| packed.push(PackedB::new(in_c, out_c, &zeros, u)));
    packed
}

/// Row `t` of `V[xi]`: tile `t`'s values at position `xi`.
struct Position<'a> {
    v: &'a [f32],
    /// Values per tile (`a² * in_c`).
    ld: usize,
    /// Offset of `xi` within a tile's values.
    col: usize,
    in_c: usize,
}

impl Rows for Position<'_> {
    fn segs(&self) -> usize {
        1
    }

    fn seg_len(&self) -> usize {
        self.in_c
    }

    fn seg(&self, m: usize, _s: usize, chans: Range<usize>) -> &[f32] {
        let at = m * self.ld + self.col;
        &self.v[at + chans.start..at + chans.end]
    }
}

/// `M[xi] = V[xi] · U[xi]` for [`crate::cpu::winograd::Tiling::run`].
pub fn tile_gemm(g: &Geom, v: Variant, packed: &[PackedB], xi: usize, tiles: usize, vbuf: &[f32], mx: &mut [f32]) {
    let a2 = v.alpha() * v.alpha();
    let rows = Position { v: vbuf, ld: a2 * g.in_c, col: xi * g.in_c, in_c: g.in_c };
    let out = Out { data: mx, ld: g.out_c, col: 0, accumulate: false };
    gemm(&rows, tiles, &packed[xi], Activation::None, out);
}
