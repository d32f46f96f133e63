//! A tensor's bytes in the file: little-endian f32, f16 or i64, or int8, encoded by
//! [`super::write`] and decoded by [`super::Header::graph`].

use std::ops::Range;

use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use super::Data;
use crate::model::{Constant, TensorData};

/// Stored form of one tensor: its safetensors dtype and little-endian bytes.
pub(super) struct Stored {
    pub(super) name: String,
    dtype: Dtype,
    dims: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Stored {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.dims
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.bytes[..]).into()
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// f16 bits (round to nearest, ties to even) for every value, or None when a
/// finite value would overflow f16's range; such a tensor stays f32.
fn to_f16(values: &[f32]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * 2);
    for &v in values {
        let h = half::f16::from_f32(v);
        if h.is_infinite() && v.is_finite() {
            return None;
        }
        out.extend_from_slice(&h.to_bits().to_le_bytes());
    }
    Some(out)
}

impl Stored {
    pub(super) fn new(name: &str, dtype: Dtype, dims: Vec<usize>, bytes: Vec<u8>) -> Self {
        Stored { name: name.to_string(), dtype, dims, bytes }
    }

    pub(super) fn is_int8(&self) -> bool {
        self.dtype == Dtype::I8
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

pub(super) fn store(name: &str, c: &Constant, f16: bool) -> Stored {
    let (dtype, bytes) = match &c.data {
        TensorData::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        // 1-D tensors (biases, BatchNorm statistics) are a tiny share of the bytes,
        // and a BatchNorm variance can sit below f16's normal range: keep them f32.
        TensorData::F32(v) => match (f16 && c.dims.len() >= 2).then(|| to_f16(v)).flatten() {
            Some(b) => (Dtype::F16, b),
            None => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        },
    };
    Stored { name: name.to_string(), dtype, dims: c.dims.clone(), bytes }
}

/// Little-endian f32s.
pub fn f32s_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// Little-endian f16s, widened to f32.
pub fn f16s_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()
}

/// The f32 of f16 bits, exact for every value. Branch-free, so the loop above
/// vectorizes: half's conversion branches per value, which made widening the
/// shipped f16 model the slowest step of loading it in wasm.
fn f16_bits_to_f32(h: u16) -> f32 {
    // Exponent and mantissa moved to their f32 places, still biased for f16.
    let magnitude = u32::from(h & 0x7fff) << 13;
    // Rebiasing is a multiplication by 2^(127-15): it also turns f16's
    // subnormals, which land on f32 subnormals here, into the exact normals.
    let rebiased = (f32::from_bits(magnitude) * f32::from_bits((127 + 112) << 23)).to_bits();
    // f16's all-ones exponent (infinity, NaN) becomes f32's.
    let bits = if magnitude >= 0x1f << 23 { magnitude | 0x7f80_0000 } else { rebiased };
    f32::from_bits(bits | u32::from(h & 0x8000) << 16)
}

/// Tensor `t`'s stored bytes, `range` of `data`, decoded to f32 (f16
/// widened, int8 codes as they are: [`super::int8::dequantize`] scales them)
/// or i64; [`super::open_header`] admitted no other dtype.
pub(in crate::model) fn decode(t: &TensorInfo, data: &dyn Data, range: Range<usize>) -> Constant {
    let dims = t.shape.clone();
    match t.dtype {
        Dtype::F16 => Constant::f32(dims, f16s_le(&data.bytes(range))),
        Dtype::I8 => Constant::f32(dims, data.bytes(range).iter().map(|&b| f32::from(b as i8)).collect()),
        Dtype::I64 => Constant::i64(
            dims,
            data.bytes(range).chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(),
        ),
        _ => Constant::f32(dims, data.f32s(range)),
    }
}
