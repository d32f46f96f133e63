//! A model file's hash check in the browser: its data section is digested by
//! WebCrypto in place (wasm has no SHA instructions, and sha2 in software
//! took longer than the rest of the import), while the caller decodes and
//! plans; without WebCrypto (an insecure context) sha2 does it here.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use js_sys::{Array, Promise, Reflect, Symbol, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::{call, get, mark};
use crate::error::{Error, Result};
use crate::model::format;

/// A SHA-256 being computed (wasm futures need not be `Send`).
type Digest = Pin<Box<dyn Future<Output = Result<Vec<u8>>>>>;

/// A model file's SHA-256 check, the digests of its data section maybe still running.
pub(super) enum HashCheck {
    Done,
    Pending { seal: format::Seal, digest: Digest },
}

impl HashCheck {
    pub(super) async fn verify(self) -> Result<()> {
        let HashCheck::Pending { seal, digest } = self else { return Ok(()) };
        seal.verify(&digest.await?)
    }
}

/// The check of model file `model`'s hash: pending while WebCrypto digests
/// its data section, so the caller must await it before using the result.
pub(super) fn hash_check(model: &Uint8Array, header: &format::Header) -> Result<HashCheck> {
    let data = header.data_range();
    let check = match webcrypto_pieces(model, data.clone()) {
        Some(digest) => HashCheck::Pending { seal: header.seal(), digest },
        None => {
            header
                .seal()
                .verify(&format::piece_digests(&model.subarray(data.start as u32, data.end as u32).to_vec()))?;
            HashCheck::Done
        }
    };
    mark("digests");
    Ok(check)
}

/// Where the package's download leaves a promise of the digests its worker
/// took of a model file's pieces as they arrived (`src/js/model.js`): `{ start,
/// digests }`, the data section's offset and one SHA-256 per piece, or null.
const PIECE_DIGESTS: &str = "webresnet.pieceDigests";

/// The SHA-256 of each [`format::PIECE`] of `model[data]`, concatenated:
/// those the download took, if they are of these pieces, else digested here.
/// None when this runtime has no WebCrypto.
fn webcrypto_pieces(model: &Uint8Array, data: Range<usize>) -> Option<Digest> {
    let subtle = get(&js_sys::global(), "crypto").and_then(|c| get(&c, "subtle"))?;
    let count = data.len().div_ceil(format::PIECE);
    let start = data.start as f64;
    let taken =
        Reflect::get(model, &Symbol::for_(PIECE_DIGESTS).into()).ok().and_then(|p| p.dyn_into::<Promise>().ok());
    let model = model.clone();
    let here = move || -> Option<JsFuture> {
        let digests = Array::new();
        for at in data.clone().step_by(format::PIECE) {
            let piece = model.subarray(at as u32, (at + format::PIECE).min(data.end) as u32);
            digests.push(&call(&subtle, "digest", &[&"SHA-256".into(), &piece])?);
        }
        Some(JsFuture::from(Promise::all(&digests)))
    };
    // Started now where nothing was taken: Node digests off this thread while it plans.
    let early = if taken.is_none() { Some(here()?) } else { None };
    let failed = |e: JsValue| Error::ModelFormat(format!("WebCrypto could not hash the model file: {e:?}"));
    Some(Box::pin(async move {
        let taken = match taken {
            Some(p) => JsFuture::from(p).await.ok().filter(|t| get(t, "start").and_then(|s| s.as_f64()) == Some(start)),
            None => None,
        };
        let digests = match taken.and_then(|t| get(&t, "digests")).filter(|d| Array::from(d).length() as usize == count)
        {
            Some(d) => d,
            None => early.or_else(here).ok_or(JsValue::UNDEFINED).map_err(failed)?.await.map_err(failed)?,
        };
        Ok(Array::from(&digests).iter().flat_map(|d| Uint8Array::new(&d).to_vec()).collect())
    }))
}
