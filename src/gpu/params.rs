//! The `Params` uniform of each kernel family, written once: Rust structs
//! with `#[repr(C)]` layout that also write the WGSL `struct Params` and
//! the uniform `p` their family's shader reads (spliced in ahead of it,
//! src/gpu/pipelines.rs).
//! Offsets are element offsets into the arena or weights; fields a kernel
//! does not read stay zero. The `params_layout` test holds each struct's
//! Rust layout to the layout naga gives the WGSL it writes.

use bytemuck::{Pod, Zeroable};

use super::pipelines::Family;

/// A kernel family's uniform parameters.
pub(crate) trait Params: Pod + Wgsl {
    /// The family whose shader reads this struct.
    const FAMILY: Family;

    /// The WGSL declaration of this struct, named `Params`, and of `p`, the
    /// uniform that holds it at binding 2 (every pipeline layout's).
    fn wgsl() -> String {
        let mut members = Vec::new();
        Self::members("", 0, &mut members);
        let body: String = members.iter().map(|m| format!("    {}: {},\n", m.name, m.ty)).collect();
        format!("struct Params {{\n{body}}}\n@group(0) @binding(2) var<uniform> p: Params;\n")
    }

    /// The WGSL struct's members, in order, at the Rust fields' offsets.
    #[cfg(test)]
    fn layout() -> Vec<Member> {
        let mut members = Vec::new();
        Self::members("", 0, &mut members);
        members
    }
}

/// One member of a WGSL `Params` struct. The declaration needs only the
/// name and type; the layout test reads the rest.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Member {
    pub name: &'static str,
    /// Byte offset of the Rust field.
    pub offset: usize,
    pub size: usize,
    pub ty: String,
    /// `u32` or `f32`: the element type, vectors included.
    pub scalar: &'static str,
}

/// A type a `Params` field may have, and the WGSL members it becomes.
pub(crate) trait Wgsl {
    /// Appends the members of a field `name` of this type at byte `offset`.
    fn members(name: &'static str, offset: usize, out: &mut Vec<Member>);
}

/// The scalars WGSL shares with Rust.
pub(crate) trait Scalar {
    const NAME: &'static str;
}

impl Scalar for u32 {
    const NAME: &'static str = "u32";
}

impl Scalar for f32 {
    const NAME: &'static str = "f32";
}

impl<T: Scalar> Wgsl for T {
    fn members(name: &'static str, offset: usize, out: &mut Vec<Member>) {
        out.push(Member { name, offset, size: size_of::<T>(), ty: T::NAME.into(), scalar: T::NAME });
    }
}

/// Uniform arrays step by 16 bytes, so an array field is packed as vec4s.
impl<T: Scalar, const N: usize> Wgsl for [T; N] {
    fn members(name: &'static str, offset: usize, out: &mut Vec<Member>) {
        assert!(N % 4 == 0, "{name}: a uniform array is whole vec4s");
        let vec = format!("vec4<{}>", T::NAME);
        let ty = if N == 4 { vec } else { format!("array<{vec}, {}>", N / 4) };
        out.push(Member { name, offset, size: size_of::<[T; N]>(), ty, scalar: T::NAME });
    }
}

/// An array of vec4s, such as per-dimension records.
impl<T: Scalar, const N: usize> Wgsl for [[T; 4]; N] {
    fn members(name: &'static str, offset: usize, out: &mut Vec<Member>) {
        let ty = format!("array<vec4<{}>, {N}>", T::NAME);
        out.push(Member { name, offset, size: size_of::<[[T; 4]; N]>(), ty, scalar: T::NAME });
    }
}

/// Declares a `#[repr(C)]` Pod struct and the WGSL members it flattens to
/// (a nested struct's fields inline, padding fields, named `_…`, left out:
/// WGSL aligns by itself); with `for Family`, also its [`Params`] impl.
macro_rules! params {
    ($(#[$meta:meta])* $name:ident $(for $family:ident)? { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Pod, Zeroable)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Wgsl for $name {
            fn members(_: &'static str, offset: usize, out: &mut Vec<Member>) {
                $(if !stringify!($field).starts_with('_') {
                    <$ty as Wgsl>::members(stringify!($field), offset + core::mem::offset_of!($name, $field), out);
                })*
            }
        }

        $(impl Params for $name {
            const FAMILY: Family = Family::$family;
        })?
    };
}

params! {
    /// The sliding window `conv` and `pool` share: input and output size,
    /// kernel, stride, the padding before (top, left), dilation.
    Window {
        ih: u32, iw: u32, oh: u32, ow: u32,
        kh: u32, kw: u32, sh: u32, sw: u32,
        pt: u32, pl: u32, dh: u32, dw: u32,
    }
}

params! {
    /// `conv`, `splitk` and `depthwise` (shaders/conv.wgsl). Weight and
    /// bias offsets are in vec4 units; `lo`/`hi` is the activation's clamp
    /// range; `splits` ranges of `k_per` K each (1 without split-K), their
    /// partial sums at element `part_off` of the arena.
    ConvParams for Conv {
        in_off: u32, out_off: u32, res_off: u32, has_res: u32,
        w_off: u32, b_off: u32, m: u32, k: u32,
        win: Window,
        ic: u32, icg: u32, oc: u32, ocg: u32,
        ocg4: u32, lo: f32, hi: f32, splits: u32,
        k_per: u32, part_off: u32,
    }
}

params! {
    /// `pool` (shaders/pool.wgsl).
    PoolParams for Pool {
        in_off: u32, out_off: u32, total: u32, c: u32,
        win: Window,
        /// Padded extent ends: ih + pad_bottom, iw + pad_right.
        eh: u32, ew: u32,
        /// 0 = max, 1 = average over in-image cells, 2 = average counting padding.
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
    /// `add` and `affine` (shaders/eltwise.wgsl). `affine`: `channels` is
    /// the innermost size; scale and shift offsets into the weights and
    /// their lengths (1 = broadcast).
    EltwiseParams for Eltwise {
        a_off: u32, b_off: u32, out_off: u32, total: u32,
        channels: u32, scale_off: u32, shift_off: u32, scale_n: u32,
        shift_n: u32, lo: f32, hi: f32,
    }
}

params! {
    /// `gather` (shaders/layout.wgsl), a transpose or a constant pad.
    LayoutParams for Layout {
        in_off: u32, out_off: u32, total: u32, rank: u32,
        value: f32,
        /// WGSL starts the vec4s on a 16-byte boundary.
        _pad: [u32; 3],
        /// Per output dimension, innermost last: its size, the input
        /// stride it steps, the padding before it, the input's extent along it.
        dims: [[u32; 4]; 8],
    }
}

params! {
    /// `horizontal` and `vertical` (shaders/preprocess.wgsl): the crop and
    /// the source rows it reads (from `row_lo`, `mid_rows` of them), the
    /// word offset in `taps` of the rows' entries (the columns' start at
    /// 0), the layout and channel order, and the normalisation
    /// (`mean`/`stdev` per channel, the fourth unused).
    PreprocessParams for Preprocess {
        out_off: u32, crop_w: u32, crop_h: u32, row_lo: u32,
        mid_rows: u32, row_taps: u32, nchw: u32, bgr: u32,
        divisor: f32, _pad: [u32; 3], mean: [f32; 4], stdev: [f32; 4],
    }
}
