//! wasm SIMD128 kernels (compiled only for wasm32 with `+simd128`): the fast
//! path of the CPU backend. The portable kernels stay the reference they are
//! tested against.
//!
//! With `+relaxed-simd` the multiply-add is one fused `f32x4.relaxed_madd`
//! (`scripts/build_wasm.sh` builds that variant as a second binary).
use core::arch::wasm32::*;

pub mod conv;
pub mod gemm;
pub mod winograd;

use crate::plan::Activation;

/// `a * b + c`, fused when relaxed SIMD is enabled.
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(c, f32x4_mul(a, b))
    }
}

/// `d = s` in 16-byte vectors, the last one ending at the end (overlapping
/// the one before where the length is not a multiple of 16): a first conv's
/// kernel row is a few dozen bytes, short enough that a `memory.copy` call
/// costs more than the copy.
#[inline(always)]
pub fn copy_short<T: Copy>(d: &mut [T], s: &[T]) {
    let s = &s[..d.len()];
    let bytes = std::mem::size_of_val(d);
    let (dst, src) = (d.as_mut_ptr() as *mut u8, s.as_ptr() as *const u8);
    if bytes < 16 {
        d.copy_from_slice(s);
        return;
    }
    // SAFETY: every 16-byte access starts at most `bytes - 16` bytes into
    // `d` or `s`, both `bytes` long; they are distinct slices.
    unsafe {
        let mut at = 0;
        while at + 16 < bytes {
            v128_store(dst.add(at) as *mut v128, v128_load(src.add(at) as *const v128));
            at += 16;
        }
        let last = bytes - 16;
        v128_store(dst.add(last) as *mut v128, v128_load(src.add(last) as *const v128));
    }
}

/// Most rows times columns [`on_copy`] pads.
const ON_COPY_MAX: usize = 64;

/// Runs `kernel` on a copy of `rows` rows of a partial panel (`nv` columns
/// of each at `c[r * ld..]`) padded to `width` columns, with C's values
/// where `load`, and copies the result back. The GEMM kernels thus load and
/// store whole panels only. Firefox's compiler keeps every tile's sums in
/// memory instead of registers when a partial panel's copy sits among the
/// tiles, inline or as a call per tile; once per panel, out of line, it
/// does not.
pub fn on_copy(
    c: &mut [f32],
    ld: usize,
    (rows, nv, width): (usize, usize, usize),
    load: bool,
    kernel: impl FnOnce(&mut [f32], usize),
) {
    let mut buf = [0.0f32; ON_COPY_MAX];
    let buf = &mut buf[..rows * width];
    let pairs = || (0..rows).map(|r| (r * ld..r * ld + nv, r * width..r * width + nv));
    if load {
        for (from, to) in pairs() {
            buf[to].copy_from_slice(&c[from]);
        }
    }
    kernel(buf, width);
    for (to, from) in pairs() {
        c[to].copy_from_slice(&buf[from]);
    }
}

/// An activation as vector clamps. `pmax`/`pmin` are single instructions; a
/// NaN maps to the bound, like `f32::max`/`min` in [`Activation::apply`].
#[derive(Clone, Copy)]
pub struct Act {
    lo: Option<v128>,
    hi: Option<v128>,
}

impl Act {
    pub fn new(a: Activation) -> Self {
        match a {
            Activation::None => Act { lo: None, hi: None },
            Activation::Relu => Act { lo: Some(f32x4_splat(0.0)), hi: None },
            Activation::Clip { min, max } => Act { lo: Some(f32x4_splat(min)), hi: Some(f32x4_splat(max)) },
        }
    }

    #[inline(always)]
    pub fn apply(self, mut x: v128) -> v128 {
        if let Some(lo) = self.lo {
            x = f32x4_pmax(lo, x);
        }
        if let Some(hi) = self.hi {
            x = f32x4_pmin(hi, x);
        }
        x
    }
}
