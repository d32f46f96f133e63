//! The project's model file (`.wrn`): one self-describing file that loads
//! without protobuf parsing or architecture inference.
//!
//! It is a plain safetensors file, so any safetensors tool can list its
//! weights. The tensors are the graph's initializers (f32, or f16 for
//! `--f16`; i64 shape tensors stay i64), except that `--int8` stores conv
//! and dense weights as I8 codes with per-channel F32 scales ([`int8`]).
//! `__metadata__` holds three strings:
//!
//! - `format`: [`FORMAT`], which is how [`sniff`] tells it from other safetensors;
//! - `version`: the oldest layout that holds what the file stores: 2, or
//!   [`VERSION`] (3) where it has I8 tensors, so that a file without them still
//!   loads in builds from before int8; a reader refuses versions it doesn't know;
//! - `model`: a JSON document with the graph (nodes, attributes, input and
//!   output names and dims, opset), the input size and layout, the
//!   preprocessing, the label names, licence and source texts, and `sha256`.
//!
//! `sha256` covers everything else the file says. It is the SHA-256 of, in
//! this order, each part as its length (u64 little-endian) then its bytes:
//!
//! 1. the `model` document without `sha256`, as compact JSON (keys sorted);
//! 2. for every tensor in name order: its name, its dtype (`F32`, `F16`,
//!    `I64` or `I8`), its shape (each dimension a u64 LE) and its `data_offsets`
//!    (begin and end, two u64 LE);
//! 3. the data section (the bytes after the header) in pieces of [`PIECE`]
//!    bytes, the last one shorter: the SHA-256 of each piece, concatenated.
//!
//! Parts 1 and 2 are small and catch a tampered shape, dtype or offset, which
//! the data alone would not. Part 3 reads the file in place, a piece at a
//! time: the npm package digests each piece with WebCrypto as the download
//! delivers it (`src/js/model.js`), so the check costs the browser little
//! beyond the download, with no gathering of the tensors into a buffer.
//! Version 1 hashed the tensors' bytes one by one instead.

mod codec;
mod hash;
pub mod int8;
mod tensors;

use super::state_dict::{element_count, Budget};
use super::Graph;
use crate::error::{Error, Result};
use codec::{array, field, graph_from_json, graph_to_json, size};
use hash::{finish, hex};
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use tensors::{store, Stored};

pub use hash::{piece_digests, Seal};
pub(super) use tensors::decode;
pub use tensors::{f16s_le, f32s_le};

/// The `format` tag in `__metadata__`.
pub const FORMAT: &str = "webresnet-model";
/// The newest layout version this build writes and reads (I8 tensors).
pub const VERSION: u32 = 3;
/// The oldest it reads, and what it writes for files without I8 tensors.
pub const OLDEST_VERSION: u32 = 2;
/// The size of the data section's pieces in the hash (part 3 of the module docs).
pub const PIECE: usize = 1 << 20;
/// The file extension the CLI uses for this format.
pub const EXTENSION: &str = "wrn";

/// What [`write`] adds beyond the graph.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Store float tensors of two or more dimensions as f16.
    pub f16: bool,
    /// Store conv and dense weights as int8 with per-channel scales (grouped
    /// convs' as f16).
    pub int8: bool,
    /// Weights that `int8` leaves in f16 (the layers quantization hurts most).
    pub keep_f16: Vec<String>,
    /// Licence text of the weights, carried verbatim.
    pub license: Option<String>,
    /// Where the weights came from (free text).
    pub source: Option<String>,
}

/// Header facts of a model file, without its tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub version: u32,
    pub license: Option<String>,
    pub source: Option<String>,
    pub sha256: String,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::ModelFormat(format!("{FORMAT} file: {msg}"))
}

/// True when `bytes` start with a safetensors header whose metadata carries our
/// format tag. Only the header is parsed; [`read`] checks the rest.
pub fn sniff(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap())) else { return false };
    let Some(header) = usize::try_from(len).ok().and_then(|n| bytes.get(8..8usize.checked_add(n)?)) else {
        // A header longer than the file: still ours if the tag is in what is there,
        // so that a truncated model file gets this format's error, not ONNX's.
        return bytes.len() > 8 && bytes[8] == b'{' && contains(&bytes[8..], FORMAT.as_bytes());
    };
    // Raw values: only the format tag is decoded, every other value is just
    // scanned (the header is parsed in full again when the file is opened).
    type Raw<'a> = HashMap<String, &'a RawValue>;
    let tag = || -> Option<String> {
        let meta = serde_json::from_slice::<Raw>(header).ok()?.remove("__metadata__")?;
        serde_json::from_str(serde_json::from_str::<Raw>(meta.get()).ok()?.get("format")?.get()).ok()
    };
    tag().is_some_and(|t| t == FORMAT)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Serialises a graph (which should carry its preprocessing and labels) into a model file.
pub fn write(graph: &Graph, opts: &WriteOptions) -> Result<Vec<u8>> {
    let stored = stored_tensors(graph, opts)?;
    let version = if stored.iter().any(Stored::is_int8) { VERSION } else { OLDEST_VERSION };
    let mut doc = graph_to_json(graph)?;
    doc["license"] = json!(opts.license);
    doc["source"] = json!(opts.source);
    let serialize = |doc: &Value| {
        let metadata = [
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), version.to_string()),
            ("model".to_string(), doc.to_string()),
        ];
        safetensors::serialize(stored.iter().map(|s| (s.name.as_str(), s)), Some(metadata.into_iter().collect()))
            .map_err(|e| bad(format!("cannot serialise: {e}")))
    };
    // The hash covers the data offsets the serialiser chose, and the reader's
    // own code computes it; the hash's length changes the header, not the data.
    doc["sha256"] = json!("");
    let digest = open(&serialize(&doc)?)?.sha256();
    doc["sha256"] = json!(hex(&digest));
    serialize(&doc)
}

/// The graph's initializers as stored: see [`WriteOptions`].
fn stored_tensors(graph: &Graph, opts: &WriteOptions) -> Result<Vec<Stored>> {
    let (axes, grouped) =
        if opts.int8 { (int8::weight_axes(graph), int8::grouped_conv_weights(graph)) } else { Default::default() };
    let mut stored = Vec::with_capacity(graph.initializers.len());
    for (name, c) in &graph.initializers {
        // The reader takes any such name for int8 scales.
        if name.ends_with(int8::SCALE_SUFFIX) {
            return Err(Error::InvalidInput(format!("tensor name '{name}' ends in '#scale', which the file reserves")));
        }
        let keep = opts.keep_f16.contains(name) || grouped.contains(name);
        match axes.get(name).filter(|_| !keep).and_then(|&axis| int8::quantize(name, c, axis)) {
            Some(pair) => stored.extend(pair),
            None => stored.push(store(name, c, opts.f16 || keep)),
        }
    }
    Ok(stored)
}

/// A model file's header (container, version and metadata) parsed, its hash
/// not yet checked. [`read`] checks it with sha2; the browser build digests
/// [`Self::data_range`] with WebCrypto while it decodes and plans, and hands
/// nothing out before [`Seal::verify`] passed.
pub struct Header {
    /// The `model` document without `sha256`, and its text as hashed.
    doc: Value,
    unsigned: String,
    /// Sorted by name, as hashed.
    tensors: Vec<(String, TensorInfo)>,
    /// The data section's place in the file.
    data: Range<usize>,
    info: Info,
}

/// Where a model file's tensors are read from: its data section in memory, or
/// wherever else the caller holds it (the browser: the JS array it arrived in).
pub trait Data {
    /// Bytes `range` of the data section.
    fn bytes(&self, range: Range<usize>) -> Cow<'_, [u8]>;
    /// Bytes `range` of the data section as little-endian f32s.
    fn f32s(&self, range: Range<usize>) -> Vec<f32> {
        f32s_le(&self.bytes(range))
    }
}

impl Data for &[u8] {
    fn bytes(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self[range])
    }
}

/// How many of a model file's first bytes hold its header, read off `prefix`
/// (at least its first 8 bytes); None if they are missing.
pub fn header_end(prefix: &[u8]) -> Option<usize> {
    let len = u64::from_le_bytes(prefix.get(..8)?.try_into().unwrap());
    usize::try_from(len).ok()?.checked_add(8)
}

/// Parses the header of a model file of `file_len` bytes from `head`, its
/// first bytes (the whole file will do); see [`Header`].
pub fn open_header(head: &[u8], file_len: usize) -> Result<Header> {
    let end = header_end(head).filter(|&end| end <= head.len()).ok_or_else(|| malformed(&"header cut short"))?;
    // Parsed as a `Value` (as `sniff` does) rather than into safetensors' own
    // types, whose parser would be a second one in the wasm.
    let header: Value = serde_json::from_slice(&head[8..end]).map_err(|e| malformed(&e))?;
    let header = header.as_object().ok_or_else(|| malformed(&"the header is not a JSON object"))?;
    let (tensors, data) = tensor_table(header, end, file_len)?;
    let meta = header.get("__metadata__").ok_or_else(|| bad("no __metadata__"))?;
    let get = |k: &str| meta.get(k).and_then(Value::as_str).ok_or_else(|| bad(format!("__metadata__ lacks '{k}'")));
    if get("format")? != FORMAT {
        return Err(bad(format!("format tag is '{}'", get("format")?)));
    }
    let version = get("version")?;
    let version: u32 = version.parse().map_err(|_| bad(format!("bad version '{version}'")))?;
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(bad(format!(
            "version {version} is not readable by this build (it reads versions {OLDEST_VERSION} to {VERSION})"
        )));
    }
    if version < VERSION && tensors.iter().any(|(_, t)| t.dtype == Dtype::I8) {
        return Err(bad(format!("version {version} has no I8 tensors")));
    }
    let mut doc: Value = serde_json::from_str(get("model")?).map_err(|e| bad(format!("metadata JSON: {e}")))?;
    let obj = doc.as_object_mut().ok_or_else(|| bad("metadata 'model' is not a JSON object"))?;
    let sha256 = match obj.remove("sha256") {
        Some(Value::String(s)) => s,
        _ => return Err(bad("metadata lacks the payload sha256")),
    };
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let info = Info { version, license: text("license"), source: text("source"), sha256 };
    Ok(Header { unsigned: doc.to_string(), doc, tensors, data, info })
}

fn malformed(e: &dyn std::fmt::Display) -> Error {
    bad(format!("truncated or malformed safetensors container ({e})"))
}

/// Tensors sorted by name, and the data section's place in the file.
type TensorTable = (Vec<(String, TensorInfo)>, Range<usize>);

/// The header's tensors and the data section they tile from `end` (where
/// the header ends), which must end where the file of `file_len` bytes does.
fn tensor_table(header: &serde_json::Map<String, Value>, end: usize, file_len: usize) -> Result<TensorTable> {
    let mut tensors = Vec::with_capacity(header.len());
    for (name, t) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let dtype = match field(t, "dtype")?.as_str() {
            Some("F32") => Dtype::F32,
            Some("F16") => Dtype::F16,
            Some("I64") => Dtype::I64,
            Some("I8") => Dtype::I8,
            other => return Err(bad(format!("tensor '{name}' has dtype {other:?} (expected F32, F16, I64 or I8)"))),
        };
        let shape = array(field(t, "shape")?)?.iter().map(size).collect::<Result<_>>()?;
        let offsets = array(field(t, "data_offsets")?)?.iter().map(size).collect::<Result<Vec<_>>>()?;
        let [begin, end] = offsets[..] else { return Err(malformed(&format!("tensor '{name}' has bad data_offsets"))) };
        tensors.push((name.clone(), TensorInfo { dtype, shape, data_offsets: (begin, end) }));
    }
    // As safetensors' reader does: the tensors, by offset, tile the data section.
    tensors.sort_by_key(|(_, t)| t.data_offsets);
    let mut data = end..end;
    for (name, t) in &tensors {
        let bytes = t.shape.iter().try_fold(t.dtype.bitsize() / 8, |n, &d| n.checked_mul(d));
        if t.data_offsets.0 != data.len() || Some(t.data_offsets.1.wrapping_sub(t.data_offsets.0)) != bytes {
            return Err(malformed(&format!("tensor '{name}' does not fit its data_offsets")));
        }
        data.end = end + t.data_offsets.1;
    }
    if data.end != file_len {
        return Err(malformed(&format!(
            "{} bytes of tensors after the header, {} in the file",
            data.len(),
            file_len.saturating_sub(end)
        )));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, data))
}

impl Header {
    /// The data section's place in the file: part 3 of the hash digests it.
    pub fn data_range(&self) -> Range<usize> {
        self.data.clone()
    }

    /// The graph with its initializers read from `data` (the data section)
    /// and decoded to f32 (or i64), int8 weights scaled back. Not to be
    /// trusted before the hash was verified.
    pub fn graph(&self, data: &dyn Data) -> Result<Graph> {
        let mut graph = self.skeleton()?;
        let mut budget = Budget::default();
        for (name, t) in &self.tensors {
            budget.spend(element_count(&t.shape, name)?)?;
            let c = decode(t, data, t.data_offsets.0..t.data_offsets.1);
            graph.initializers.insert(name.clone(), c);
        }
        self.dequantize(&mut graph)?;
        Ok(graph)
    }

    /// Scales the int8 weights of `graph`, whose tensors were decoded from
    /// this file one by one, back to f32 ([`int8::dequantize`]).
    pub(super) fn dequantize(&self, graph: &mut Graph) -> Result<()> {
        int8::dequantize(&self.tensors, graph)
    }

    /// The graph without its initializers.
    pub(super) fn skeleton(&self) -> Result<Graph> {
        graph_from_json(&self.doc)
    }

    /// The stored tensors in the order their bytes come in the file.
    pub(super) fn tensors_in_file_order(&self) -> Vec<&(String, TensorInfo)> {
        let mut order: Vec<_> = self.tensors.iter().collect();
        order.sort_by_key(|(_, t)| t.data_offsets);
        order
    }
}

/// A model file in memory, its header parsed; see [`Header`].
pub struct Unverified<'a> {
    header: Header,
    data: &'a [u8],
}

/// Parses a model file's header; see [`Header`].
pub fn open(bytes: &[u8]) -> Result<Unverified<'_>> {
    let header = open_header(bytes, bytes.len())?;
    Ok(Unverified { data: &bytes[header.data_range()], header })
}

impl Unverified<'_> {
    /// The hash over the whole file as defined in the module docs, in software.
    fn sha256(&self) -> [u8; 32] {
        finish(self.header.seal().head, &piece_digests(self.data))
    }

    /// Checks the recorded hash in software (sha2).
    pub fn verify(&self) -> Result<()> {
        self.header.seal().verify(&piece_digests(self.data))
    }

    /// The graph; not to be trusted before [`Self::verify`] passed.
    pub fn graph(&self) -> Result<Graph> {
        self.header.graph(&self.data)
    }
}

/// Verifies a model file (sha2) and returns its header facts and graph.
pub fn read_with_info(bytes: &[u8]) -> Result<(Graph, Info)> {
    let file = open(bytes)?;
    file.verify()?;
    Ok((file.graph()?, file.header.info))
}

/// Reads a model file into a graph, refusing it unless the hash matches.
pub fn read(bytes: &[u8]) -> Result<Graph> {
    read_with_info(bytes).map(|(graph, _)| graph)
}
