//! Named weight tensors (a PyTorch "state dict"), read from torch `.pth`
//! files (legacy and zip) or `.safetensors`, and turned into a [`Graph`] by
//! the architecture builders.

use super::arch::{self, Arch};
use super::pickle::DType;
use super::{efficientnet, resnet, torch, Graph};
use crate::error::{Error, Result};

/// Largest tensor, and largest total over a file, in elements (1 GiB of f32):
/// twice the biggest torchvision ResNet, and far past what a browser can hold.
pub const MAX_ELEMENTS: usize = 1 << 28;

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors in file order; values converted to f32.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    pub tensors: Vec<(String, Tensor)>,
}

/// Weight-file formats recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// torch.save before 1.6 (`_use_new_zipfile_serialization=False`): pickles back to back.
    TorchLegacy,
    /// torch.save since 1.6: a zip of `data.pkl` and one entry per storage.
    TorchZip,
    SafeTensors,
}

/// Protocol 2, then LONG1 of 10 bytes holding torch's magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(LEGACY_MAGIC) {
        return Some(Format::TorchLegacy);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(Format::TorchZip);
    }
    // An 8-byte header length, then a JSON object. No ONNX file starts with
    // byte 8 = '{': that would be a protobuf group tag. A header length past
    // the end is a truncated safetensors file, and gets that error, not ONNX's.
    (bytes.len() > 8 && bytes[8] == b'{').then_some(Format::SafeTensors)
}

pub fn read(bytes: &[u8], format: Format) -> Result<StateDict> {
    match format {
        Format::TorchLegacy => torch::read_legacy(bytes),
        Format::TorchZip => torch::read_zip(bytes),
        Format::SafeTensors => read_safetensors(bytes),
    }
}

/// Builds the network a state dict describes, recognised by its tensor
/// names; with `arch`, also checks that it is that named network.
pub fn to_graph(sd: StateDict, arch: Option<&str>) -> Result<Graph> {
    let (graph, found) = build(sd)?;
    if let Some(name) = arch {
        arch::check(name, &found)?;
    }
    Ok(graph)
}

fn build(sd: StateDict) -> Result<(Graph, Arch)> {
    let has = |n: &str| sd.tensors.iter().any(|(k, _)| k == n);
    if has("_conv_stem.weight") {
        efficientnet::build(sd)
    } else if has("conv1.weight") && has("layer1.0.conv1.weight") {
        resnet::build(sd)
    } else {
        let first: Vec<&str> = sd.tensors.iter().take(5).map(|(k, _)| k.as_str()).collect();
        Err(Error::ModelFormat(format!(
            "unrecognised weight names (first: {first:?}); expected torchvision/timm ResNet names \
             (conv1.weight, layer1.0.conv1.weight, fc.weight) or EfficientNet-Lite names (_conv_stem.weight)"
        )))
    }
}

/// Checked element count of `dims`, within [`MAX_ELEMENTS`].
pub fn element_count(dims: &[usize], name: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| Error::Limit(format!("tensor '{name}' of shape {dims:?} is too large")))
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if man == 0 => sign,
        // Subnormal: value = man * 2^-24, exact in f32.
        0 => {
            let v = man as f32 / 16_777_216.0;
            return if sign != 0 { -v } else { v };
        }
        31 => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// Little-endian element `i` of `bytes` (which holds at least `i + 1` elements) as f32.
#[inline]
pub fn element(bytes: &[u8], dtype: DType, i: usize) -> f32 {
    let n = dtype.size();
    let b = &bytes[i * n..(i + 1) * n];
    match dtype {
        DType::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
        DType::F32 => f32::from_le_bytes(b.try_into().unwrap()),
        DType::F16 => f16_to_f32(u16::from_le_bytes(b.try_into().unwrap())),
        DType::BF16 => f32::from_bits((u16::from_le_bytes(b.try_into().unwrap()) as u32) << 16),
        DType::I64 => i64::from_le_bytes(b.try_into().unwrap()) as f32,
        DType::I32 => i32::from_le_bytes(b.try_into().unwrap()) as f32,
        DType::I16 => i16::from_le_bytes(b.try_into().unwrap()) as f32,
        DType::I8 => b[0] as i8 as f32,
        DType::U8 | DType::Bool => b[0] as f32,
    }
}

/// Keeps a running total of elements across a file within [`MAX_ELEMENTS`].
#[derive(Default)]
pub struct Budget(usize);

impl Budget {
    pub fn spend(&mut self, n: usize) -> Result<()> {
        self.0 = self.0.saturating_add(n);
        if self.0 > MAX_ELEMENTS {
            return Err(Error::Limit(format!("the weights hold more than {MAX_ELEMENTS} elements")));
        }
        Ok(())
    }
}

fn read_safetensors(bytes: &[u8]) -> Result<StateDict> {
    use safetensors::Dtype as S;
    let st =
        safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::ModelFormat(format!("safetensors: {e}")))?;
    let mut budget = Budget::default();
    let mut tensors = Vec::new();
    // The header is a JSON map, so its order is lost; sort for a stable listing.
    let mut names = st.names();
    names.sort();
    for name in names {
        let view = st.tensor(name).map_err(|e| Error::ModelFormat(format!("safetensors tensor '{name}': {e}")))?;
        let dtype = match view.dtype() {
            S::F64 => DType::F64,
            S::F32 => DType::F32,
            S::F16 => DType::F16,
            S::BF16 => DType::BF16,
            S::I64 => DType::I64,
            S::I32 => DType::I32,
            S::I16 => DType::I16,
            S::I8 => DType::I8,
            S::U8 => DType::U8,
            S::BOOL => DType::Bool,
            other => {
                return Err(Error::ModelFormat(format!("safetensors tensor '{name}': unsupported dtype {other:?}")))
            }
        };
        let dims = view.shape().to_vec();
        let n = element_count(&dims, name)?;
        budget.spend(n)?;
        let data = view.data();
        if data.len() != n * dtype.size() {
            return Err(Error::ModelFormat(format!(
                "safetensors tensor '{name}': data length does not match its shape"
            )));
        }
        let values = (0..n).map(|i| element(data, dtype, i)).collect();
        tensors.push((name.to_string(), Tensor { dims, data: values }));
    }
    Ok(StateDict { tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion() {
        for (h, f) in [(0x3c00u16, 1.0f32), (0xc000, -2.0), (0x7bff, 65504.0), (0x0001, 5.960_464_5e-8), (0x8000, -0.0)]
        {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(LEGACY_MAGIC), Some(Format::TorchLegacy));
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Format::TorchZip));
        assert_eq!(sniff(b"\x02\0\0\0\0\0\0\0{}"), Some(Format::SafeTensors));
        // Truncated: the header runs past the end.
        assert_eq!(sniff(b"\xff\0\0\0\0\0\0\0{}"), Some(Format::SafeTensors));
        assert_eq!(sniff(b"\x08\x07\x12\x04"), None);
    }
}
