//! Model bytes from JS into a graph: a project model file's tensors are read
//! straight from the JS array (or during the download, through [`ModelStream`]),
//! and its hash is checked as [`super::digest`] says.

use std::borrow::Cow;
use std::ops::Range;

use js_sys::{Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;

use super::ahead::GpuAhead;
use super::digest::{hash_check, HashCheck};
use super::mark;
use crate::error::Result;
use crate::model::format;
use crate::model::incoming::{Chunk, Incoming};
use crate::model::Graph;

/// [`crate::model::import`] of `model`, but only a model file's header is
/// copied into wasm whole: its tensors go straight into their arrays.
pub(super) fn import(model: &Uint8Array) -> Result<(Result<Graph>, HashCheck)> {
    let len = model.length() as usize;
    let prefix = model.subarray(0, len.min(8) as u32).to_vec();
    let head_end = format::header_end(&prefix).filter(|&end| end <= len).unwrap_or(len);
    let head = model.subarray(0, head_end as u32).to_vec();
    if !format::sniff(&head) {
        let bytes = if head.len() == len { head } else { model.to_vec() };
        let graph = crate::model::import(&bytes);
        mark("graph");
        return Ok((graph, HashCheck::Done));
    }
    let header = format::open_header(&head, len)?;
    mark("header");
    let check = hash_check(model, &header)?;
    let graph = header.graph(&JsData { model: model.clone(), start: header.data_range().start });
    mark("graph");
    Ok((graph, check))
}

/// A model's bytes handed over as they download, for `Session.create`: a
/// project model file is then read during the download, not after it (see
/// [`crate::model::incoming`]). Other files are left to `create`'s import.
/// Made for WebGPU, it also compiles the GPU pipelines from the file's
/// header while the weights download ([`super::ahead`]).
#[wasm_bindgen]
pub struct ModelStream {
    incoming: Incoming,
    gpu: Option<GpuAhead>,
}

#[wasm_bindgen]
impl ModelStream {
    /// A stream of a file announced as `len` bytes long; `webgpu`: the
    /// session will be on WebGPU, so its pipelines are worth compiling now,
    /// for input `shape` (by default the model's own, as `Session.create`'s).
    #[wasm_bindgen(constructor)]
    pub fn new(len: f64, webgpu: Option<bool>, shape: Option<Vec<u32>>) -> ModelStream {
        let shape = shape.map(|s| s.into_iter().map(|d| d as usize).collect());
        let gpu = if webgpu == Some(true) { GpuAhead::new(shape) } else { None };
        ModelStream { incoming: Incoming::new(len as usize), gpu }
    }

    /// The file's next bytes.
    pub fn push(&mut self, chunk: &Uint8Array) {
        self.incoming.push(chunk);
        if let Some(gpu) = &mut self.gpu {
            gpu.after(&self.incoming, chunk.length() as usize);
        }
    }
}

impl ModelStream {
    /// The header and graph read from the stream, if it was a whole model
    /// file of `len` bytes, and the compile ahead, if one was asked for.
    pub(super) fn finish(self, len: usize) -> (Option<(format::Header, Graph)>, Option<GpuAhead>) {
        (self.incoming.finish().filter(|(h, _)| h.data_range().end == len), self.gpu)
    }
}

impl Chunk for Uint8Array {
    fn byte_len(&self) -> usize {
        self.length() as usize
    }
    fn copy_into(&self, at: usize, dst: &mut [u8]) {
        self.subarray(at as u32, (at + dst.len()) as u32).copy_to(dst);
    }
}

/// A model file's data section, read from the JS array it arrived in.
struct JsData {
    model: Uint8Array,
    start: usize,
}

impl format::Data for JsData {
    fn bytes(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        self.model.subarray((self.start + range.start) as u32, (self.start + range.end) as u32).to_vec().into()
    }

    /// Copied straight into the f32 array where the bytes are aligned for a
    /// `Float32Array` view (the wasm and every browser are little-endian).
    fn f32s(&self, range: Range<usize>) -> Vec<f32> {
        let at = self.model.byte_offset() as usize + self.start + range.start;
        if at % 4 != 0 {
            return format::f32s_le(&self.bytes(range));
        }
        Float32Array::new_with_byte_offset_and_length(&self.model.buffer(), at as u32, (range.len() / 4) as u32)
            .to_vec()
    }
}
