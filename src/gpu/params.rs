//! The `Params` uniform of each kernel family, as Rust structs with the
//! WGSL structs' layout: one struct per `struct Params` in `shaders/`, in
//! the same order. Offsets are element offsets into the arena or weights;
//! fields a kernel does not read stay zero. The `params_layout` test holds
//! each struct to its shader's layout, read by naga.

use bytemuck::{Pod, Zeroable};

use super::pipelines::Family;

/// A kernel family's uniform parameters.
pub(crate) trait Params: Pod {
    /// The family whose shader declares this struct.
    const FAMILY: Family;
    /// Every field in declaration order, for the layout test.
    #[cfg(test)]
    const FIELDS: &'static [Field];
}

/// One field of a [`Params`] struct as the layout test sees it.
#[cfg(test)]
pub(crate) struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// `u32` or `f32`: the element type, arrays included.
    pub scalar: &'static str,
}

/// The WGSL element type of a field's Rust type.
#[cfg(test)]
pub(crate) trait Scalar {
    const NAME: &'static str;
}

#[cfg(test)]
impl Scalar for u32 {
    const NAME: &'static str = "u32";
}

#[cfg(test)]
impl Scalar for f32 {
    const NAME: &'static str = "f32";
}

#[cfg(test)]
impl<T: Scalar, const N: usize> Scalar for [T; N] {
    const NAME: &'static str = T::NAME;
}

/// Declares a `#[repr(C)]` Pod struct and its [`Params`] impl from one field list.
macro_rules! params {
    ($(#[$meta:meta])* $name:ident for $family:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Pod, Zeroable)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Params for $name {
            const FAMILY: Family = Family::$family;
            #[cfg(test)]
            const FIELDS: &'static [Field] = &[$(Field {
                name: stringify!($field),
                offset: core::mem::offset_of!($name, $field),
                size: size_of::<$ty>(),
                scalar: <$ty as Scalar>::NAME,
            }),*];
        }
    };
}

params! {
    /// `conv`, `splitk` and `depthwise` (shaders/conv.wgsl). Weight and
    /// bias offsets are in vec4 units; `lo`/`hi` is the activation's clamp
    /// range; `splits` ranges of `k_per` K each (1 without split-K), their
    /// partial sums at element `part_off` of the arena.
    ConvParams for Conv {
        in_off: u32, out_off: u32, res_off: u32, has_res: u32,
        w_off: u32, b_off: u32, m: u32, k: u32,
        ih: u32, iw: u32, ic: u32, icg: u32,
        oh: u32, ow: u32, oc: u32, ocg: u32,
        ocg4: u32, kh: u32, kw: u32, sh: u32,
        sw: u32, pt: u32, pl: u32, dh: u32,
        dw: u32, lo: f32, hi: f32, splits: u32,
        k_per: u32, part_off: u32,
    }
}

params! {
    /// `pool` (shaders/pool.wgsl).
    PoolParams for Pool {
        in_off: u32, out_off: u32, total: u32, c: u32,
        ih: u32, iw: u32, oh: u32, ow: u32,
        kh: u32, kw: u32, sh: u32, sw: u32,
        pt: u32, pl: u32, dh: u32, dw: u32,
        eh: u32, ew: u32,
        mode: u32,
    }
}

params! {
    /// `dense`, `dense_sg` and `softmax` (shaders/head.wgsl): `pixels`
    /// NHWC cells averaged per input value (1: a plain dense), `blocks`
    /// workgroups per input row.
    HeadParams for Head {
        in_off: u32, out_off: u32, w_off: u32, b_off: u32,
        rows: u32, cols: u32, kout: u32, lo: f32,
        hi: f32, pixels: u32, blocks: u32,
    }
}

params! {
    /// `add` and `affine` (shaders/eltwise.wgsl).
    EltwiseParams for Eltwise {
        a_off: u32, b_off: u32, out_off: u32, total: u32,
        channels: u32, scale_off: u32, shift_off: u32, scale_n: u32,
        shift_n: u32, lo: f32, hi: f32,
    }
}

params! {
    /// `permute` and `pad` (shaders/layout.wgsl); the arrays hold one entry per dimension.
    LayoutParams for Layout {
        in_off: u32, out_off: u32, total: u32, rank: u32,
        value: f32,
        /// The WGSL arrays are of vec4, which start on 16-byte boundaries.
        _pad: [u32; 3],
        out_dims: [u32; 8],
        a: [u32; 8],
        b: [u32; 8],
    }
}

params! {
    /// `horizontal` and `vertical` (shaders/preprocess.wgsl): the crop and
    /// the source rows it reads, the layout and channel order, and the
    /// normalisation (`mean`/`stdev` per channel, the fourth unused).
    PreprocessParams for Preprocess {
        out_off: u32, crop_w: u32, crop_h: u32, row_lo: u32,
        mid_rows: u32, row_taps: u32, nchw: u32, bgr: u32,
        divisor: f32, _pad: [u32; 3], mean: [f32; 4], stdev: [f32; 4],
    }
}
