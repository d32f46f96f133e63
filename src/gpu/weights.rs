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
    max_floats: usize,
    pub chunks: Vec<Vec<f32>>,
}

fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

impl WeightPacker {
    pub fn new(max_binding_bytes: u64) -> Self {
        let max_floats = usize::try_from(max_binding_bytes / 4).unwrap_or(usize::MAX) / ALIGN * ALIGN;
        WeightPacker { max_floats, chunks: vec![Vec::new()] }
    }

    /// Appends `parts` contiguously (each aligned) to one chunk, starting a
    /// new chunk when the current one would overflow the binding limit.
    pub fn push(&mut self, parts: &[&[f32]]) -> Result<Placed> {
        let size: usize = parts.iter().map(|p| align(p.len())).sum();
        if size > self.max_floats {
            return Err(Error::Limit(format!(
                "a step has {} bytes of weights; the device binds at most {} bytes",
                size * 4,
                self.max_floats * 4
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
        let mut p = WeightPacker::new(1024);
        let a = p.push(&[&[1.0; 100], &[2.0; 3]]).unwrap();
        assert_eq!((a.chunk, a.offsets.clone()), (0, vec![0, 128]));
        let b = p.push(&[&[3.0; 64]]).unwrap();
        assert_eq!((b.chunk, b.offsets.clone()), (0, vec![192]));
        let c = p.push(&[&[4.0; 65]]).unwrap();
        assert_eq!((c.chunk, c.offsets), (1, vec![0]));
        assert_eq!(p.chunks[0][128], 2.0);
        assert_eq!(p.chunks[0][192], 3.0);
        assert!(matches!(p.push(&[&[0.0; 257]]), Err(Error::Limit(_))));
    }
}
