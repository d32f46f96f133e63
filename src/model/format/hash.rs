//! The model file's SHA-256 (the module docs of [`super`] define it): parts
//! 1 and 2 from the header, part 3 from the digests of the data section's
//! pieces, which the caller may compute elsewhere (the browser: WebCrypto).

use sha2::{Digest, Sha256};

use super::{bad, Header, PIECE};
use crate::error::Result;
use safetensors::Dtype;

/// Feeds one length-prefixed part of the hashed stream (see [`super`]).
fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn u64s(values: impl IntoIterator<Item = usize>) -> Vec<u8> {
    values.into_iter().flat_map(|v| (v as u64).to_le_bytes()).collect()
}

/// A model file's recorded SHA-256 and the hash state over parts 1 and 2 of
/// the module docs: what remains is the digests of the data section's pieces,
/// computed wherever it is fastest ([`super::Unverified::verify`] uses sha2).
pub struct Seal {
    pub(super) head: Sha256,
    recorded: String,
}

impl Seal {
    /// Accepts the file if `piece_digests` (the SHA-256 of each [`PIECE`] of
    /// [`Header::data_range`], concatenated) complete the recorded hash.
    pub fn verify(self, piece_digests: &[u8]) -> Result<()> {
        let got = hex(&finish(self.head, piece_digests));
        if got != self.recorded {
            return Err(bad(format!(
                "SHA-256 mismatch: the file is corrupted or was modified (recorded {}, computed {got})",
                self.recorded
            )));
        }
        Ok(())
    }
}

/// The whole hash: parts 1 and 2 in `head`, then part 3.
pub(super) fn finish(mut head: Sha256, piece_digests: &[u8]) -> [u8; 32] {
    part(&mut head, piece_digests);
    head.finalize().into()
}

pub(super) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of each [`PIECE`] of `data` (a data section), concatenated, in software.
pub fn piece_digests(data: &[u8]) -> Vec<u8> {
    data.chunks(PIECE).flat_map(|p| <[u8; 32]>::from(Sha256::digest(p))).collect()
}

impl Header {
    /// The check that awaits the digests of the data section's pieces.
    pub fn seal(&self) -> Seal {
        let mut head = Sha256::new();
        part(&mut head, self.unsigned.as_bytes());
        for (name, t) in &self.tensors {
            part(&mut head, name.as_bytes());
            part(&mut head, dtype_tag(t.dtype).as_bytes());
            part(&mut head, &u64s(t.shape.iter().copied()));
            part(&mut head, &u64s([t.data_offsets.0, t.data_offsets.1]));
        }
        Seal { head, recorded: self.info.sha256.clone() }
    }
}

fn dtype_tag(d: Dtype) -> &'static str {
    match d {
        Dtype::F16 => "F16",
        Dtype::F32 => "F32",
        Dtype::I64 => "I64",
        Dtype::I8 => "I8",
        _ => "other",
    }
}
