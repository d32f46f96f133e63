//! Weight placement: every step's packed weights go into storage buffers
//! ("chunks") no larger than the device's storage binding limit, so a model
//! whose weights exceed one binding still loads.

use crate::error::{Error, Result};

/// Blocks start at multiples of 64 floats: vec4-typed shaders need 16-byte
/// alignment, and 256 bytes keeps every block on a cache line.
const ALIGN: usize = 64;

/// Where a block landed: its chunk and the offset of each part, in floats.
pub(crate) struct Placed {
    pub chunk: usize,
    pub offsets: Vec<usize>,
}

pub(crate) struct WeightPacker {
    /// Elements per chunk (f32 or f16, whichever the shaders read).
    max_floats: usize,
    elem_bytes: u64,
    pub chunks: Vec<Vec<f32>>,
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

impl WeightPacker {
    /// `elem_bytes`: 4 when chunks are uploaded as f32, 2 as f16.
    pub fn new(max_binding_bytes: u64, elem_bytes: u64) -> Self {
        let max_floats = usize::try_from(max_binding_bytes / elem_bytes).unwrap_or(usize::MAX) / ALIGN * ALIGN;
        WeightPacker { max_floats, elem_bytes, chunks: vec![Vec::new()] }
    }

    /// Chunk `i` as the bytes the shaders read, padded to whole 16-byte vec4s.
    pub fn bytes(&self, i: usize) -> Vec<u8> {
        let c = &self.chunks[i];
        let mut bytes: Vec<u8> = if self.elem_bytes == 2 {
            c.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect()
        } else {
            c.iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        bytes.resize(bytes.len().max(16).next_multiple_of(16), 0);
        bytes
    }

    /// Appends `parts` contiguously (each aligned) to one chunk, starting a
    /// new chunk when the current one would overflow the binding limit.
    pub fn push(&mut self, parts: &[&[f32]]) -> Result<Placed> {
        let size: usize = parts.iter().map(|p| align(p.len())).sum();
        if size > self.max_floats {
            return Err(Error::Limit(format!(
                "a step has {} bytes of weights; the device binds at most {} bytes",
                size as u64 * self.elem_bytes,
                self.max_floats as u64 * self.elem_bytes
            )));
        }
        if align(self.chunks.last().map_or(0, Vec::len)) + size > self.max_floats {
            self.chunks.push(Vec::new());
        }
        let chunk = self.chunks.len() - 1;
        let data = &mut self.chunks[chunk];
        let mut offsets = Vec::with_capacity(parts.len());
        for part in parts {
            data.resize(align(data.len()), 0.0);
            offsets.push(data.len());
            data.extend_from_slice(part);
        }
        Ok(Placed { chunk, offsets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_binding_limit_and_aligns_parts() {
        // Room for 256 floats per chunk.
        let mut p = WeightPacker::new(1024, 4);
        let a = p.push(&[&[1.0; 100], &[2.0; 3]]).unwrap();
        assert_eq!((a.chunk, a.offsets.clone()), (0, vec![0, 128]));
        let b = p.push(&[&[3.0; 64]]).unwrap();
        assert_eq!((b.chunk, b.offsets.clone()), (0, vec![192]));
        let c = p.push(&[&[4.0; 65]]).unwrap();
        assert_eq!((c.chunk, c.offsets), (1, vec![0]));
        assert_eq!(p.chunks[0][128], 2.0);
        assert_eq!(p.chunks[0][192], 3.0);
        assert!(matches!(p.push(&[&[0.0; 257]]), Err(Error::Limit(_))));
        assert_eq!(p.bytes(1).len(), 65 * 4 + 12);
    }

    #[test]
    fn f16_chunks_hold_twice_the_elements() {
        let mut p = WeightPacker::new(1024, 2);
        let a = p.push(&[&[1.5; 300], &[-2.0; 100]]).unwrap();
        assert_eq!((a.chunk, a.offsets), (0, vec![0, 320]));
        assert!(matches!(p.push(&[&[0.0; 513]]), Err(Error::Limit(_))));
        let b = p.bytes(0);
        assert_eq!(b.len(), 420 * 2 + 8);
        assert_eq!(&b[..2], &half::f16::from_f32(1.5).to_le_bytes());
        assert_eq!(&b[640..642], &half::f16::from_f32(-2.0).to_le_bytes());
    }
}
