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
