//! The project's model file (`.wrn`): one self-describing file that loads
//! without protobuf parsing or architecture inference.
//!
//! It is a plain safetensors file, so any safetensors tool can list its
//! weights. The tensors are the graph's initializers (f32, or f16 for
//! `--f16`; i64 shape tensors stay i64). `__metadata__` holds three strings:
//!
//! - `format`: [`FORMAT`], which is how [`sniff`] tells it from other safetensors;
//! - `version`: [`VERSION`]; a reader refuses versions it doesn't know;
//! - `model`: a JSON document with the graph (nodes, attributes, input and
//!   output names and dims, opset), the input size and layout, the
//!   preprocessing, the label names, licence and source texts, and `sha256`.
//!
//! `sha256` covers everything else the file says. It is the SHA-256 of, in
//! this order, each part as its length (u64 little-endian) then its bytes:
//!
//! 1. the `model` document without `sha256`, as compact JSON (keys sorted);
//! 2. for every tensor in name order: its name, its dtype (`F32`, `F16` or
//!    `I64`), its shape (each dimension a u64 LE) and its `data_offsets`
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

use super::state_dict::{element_count, Budget};
use super::{AttrValue, Constant, Dim, Graph, Node, TensorData, ValueInfo};
use crate::error::{Error, Result};
use crate::preprocess::{ChannelOrder, InputLayout, PreprocessConfig};
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// The `format` tag in `__metadata__`.
pub const FORMAT: &str = "webresnet-model";
/// The layout version this build writes and reads.
pub const VERSION: u32 = 2;
/// The size of the data section's pieces in the hash (part 3 of the module docs).
pub const PIECE: usize = 1 << 20;
/// The file extension the CLI uses for this format.
pub const EXTENSION: &str = "wrn";

/// What [`write`] adds beyond the graph.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Store float tensors of two or more dimensions as f16.
    pub f16: bool,
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

/// Stored form of one tensor: its safetensors dtype and little-endian bytes.
struct Stored {
    name: String,
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

fn store(name: &str, c: &Constant, f16: bool) -> Stored {
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

fn dtype_tag(d: Dtype) -> &'static str {
    match d {
        Dtype::F16 => "F16",
        Dtype::F32 => "F32",
        Dtype::I64 => "I64",
        _ => "other",
    }
}

/// Feeds one length-prefixed part of the hashed stream (see the module docs).
fn part(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn u64s(values: impl IntoIterator<Item = usize>) -> Vec<u8> {
    values.into_iter().flat_map(|v| (v as u64).to_le_bytes()).collect()
}

/// A model file's recorded SHA-256 and the hash state over parts 1 and 2 of
/// the module docs: what remains is the digests of the data section's pieces,
/// computed wherever it is fastest ([`Unverified::verify`] uses sha2).
pub struct Seal {
    head: Sha256,
    recorded: String,
}

impl Seal {
    /// Accepts the file if `piece_digests` (the SHA-256 of each [`PIECE`] of
    /// [`Unverified::data_range`], concatenated) complete the recorded hash.
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
fn finish(mut head: Sha256, piece_digests: &[u8]) -> [u8; 32] {
    part(&mut head, piece_digests);
    head.finalize().into()
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialises a graph (which should carry its preprocessing and labels) into a model file.
pub fn write(graph: &Graph, opts: &WriteOptions) -> Result<Vec<u8>> {
    let stored: Vec<Stored> = graph.initializers.iter().map(|(n, c)| store(n, c, opts.f16)).collect();
    let mut doc = graph_to_json(graph)?;
    doc["license"] = json!(opts.license);
    doc["source"] = json!(opts.source);
    let serialize = |doc: &Value| {
        let metadata = [
            ("format".to_string(), FORMAT.to_string()),
            ("version".to_string(), VERSION.to_string()),
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

/// How many of a model file's first bytes hold its header, read off `prefix`
/// (at least its first 8 bytes); None if they are missing.
pub fn header_end(prefix: &[u8]) -> Option<usize> {
    let len = u64::from_le_bytes(prefix.get(..8)?.try_into().unwrap());
    usize::try_from(len).ok()?.checked_add(8)
}

/// Parses the header of a model file of `file_len` bytes from `head`, its
/// first bytes (the whole file will do); see [`Header`].
pub fn open_header(head: &[u8], file_len: usize) -> Result<Header> {
    let malformed = |e: &dyn std::fmt::Display| bad(format!("truncated or malformed safetensors container ({e})"));
    let end = header_end(head).filter(|&end| end <= head.len()).ok_or_else(|| malformed(&"header cut short"))?;
    // Parsed as a `Value` (as `sniff` does) rather than into safetensors' own
    // types, whose parser would be a second one in the wasm.
    let header: Value = serde_json::from_slice(&head[8..end]).map_err(|e| malformed(&e))?;
    let header = header.as_object().ok_or_else(|| malformed(&"the header is not a JSON object"))?;
    let mut tensors = Vec::with_capacity(header.len());
    for (name, t) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let dtype = match field(t, "dtype")?.as_str() {
            Some("F32") => Dtype::F32,
            Some("F16") => Dtype::F16,
            Some("I64") => Dtype::I64,
            other => return Err(bad(format!("tensor '{name}' has dtype {other:?} (expected F32, F16 or I64)"))),
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
    let meta = header.get("__metadata__").ok_or_else(|| bad("no __metadata__"))?;
    let get = |k: &str| meta.get(k).and_then(Value::as_str).ok_or_else(|| bad(format!("__metadata__ lacks '{k}'")));
    if get("format")? != FORMAT {
        return Err(bad(format!("format tag is '{}'", get("format")?)));
    }
    let version = get("version")?;
    let version: u32 = version.parse().map_err(|_| bad(format!("bad version '{version}'")))?;
    if version != VERSION {
        return Err(bad(format!("version {version} is not readable by this build (it reads version {VERSION})")));
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

impl Header {
    /// The data section's place in the file: part 3 of the hash digests it.
    pub fn data_range(&self) -> Range<usize> {
        self.data.clone()
    }

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

    /// The graph with its initializers read from `data` (the data section)
    /// and decoded to f32 (or i64). Not to be trusted before the hash was verified.
    pub fn graph(&self, data: &dyn Data) -> Result<Graph> {
        let mut graph = self.skeleton()?;
        let mut budget = Budget::default();
        for (name, t) in &self.tensors {
            budget.spend(element_count(&t.shape, name)?)?;
            let c = decode(t, data, t.data_offsets.0..t.data_offsets.1);
            graph.initializers.insert(name.clone(), c);
        }
        Ok(graph)
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

/// Tensor `t`'s stored bytes, `range` of `data`, decoded to f32 (f16
/// widened) or i64; [`open_header`] admitted no other dtype.
pub(super) fn decode(t: &TensorInfo, data: &dyn Data, range: Range<usize>) -> Constant {
    let dims = t.shape.clone();
    match t.dtype {
        Dtype::F16 => Constant::f32(dims, f16s_le(&data.bytes(range))),
        Dtype::I64 => Constant::i64(
            dims,
            data.bytes(range).chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(),
        ),
        _ => Constant::f32(dims, data.f32s(range)),
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

/// The SHA-256 of each [`PIECE`] of `data` (a data section), concatenated, in software.
pub fn piece_digests(data: &[u8]) -> Vec<u8> {
    data.chunks(PIECE).flat_map(|p| <[u8; 32]>::from(Sha256::digest(p))).collect()
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

// ---- JSON <-> graph ----

/// JSON has no NaN or infinity; attributes spell them as strings.
fn num(v: f32) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(v.to_string())
    }
}

fn unnum(v: &Value) -> Result<f32> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| x as f32).ok_or_else(|| bad(format!("bad number {n}"))),
        Value::String(s) => s.parse().map_err(|_| bad(format!("bad float '{s}'"))),
        _ => Err(bad(format!("expected a number, got {v}"))),
    }
}

fn constant_to_json(c: &Constant) -> Value {
    match &c.data {
        TensorData::F32(v) => json!({"dims": c.dims, "f32": v.iter().map(|&x| num(x)).collect::<Vec<_>>()}),
        TensorData::I64(v) => json!({"dims": c.dims, "i64": v}),
    }
}

fn attr_to_json(node: &Node, name: &str, a: &AttrValue) -> Result<Value> {
    Ok(match a {
        AttrValue::Int(v) => json!({"int": v}),
        AttrValue::Float(v) => json!({"float": num(*v)}),
        AttrValue::Ints(v) => json!({"ints": v}),
        AttrValue::Floats(v) => json!({"floats": v.iter().map(|&x| num(x)).collect::<Vec<_>>()}),
        AttrValue::Str(v) => json!({"str": v}),
        AttrValue::Strs(v) => json!({"strs": v}),
        AttrValue::Tensor(c) => json!({"tensor": constant_to_json(c)}),
        AttrValue::Other(kind) => {
            return Err(Error::unsupported(&node.op, &node.name, format!("attribute '{name}' of kind {kind}")))
        }
    })
}

fn dims_to_json(dims: &Option<Vec<Dim>>) -> Value {
    match dims {
        None => Value::Null,
        Some(d) => d
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => json!(n),
                Dim::Symbolic(s) => json!(s),
            })
            .collect(),
    }
}

fn preprocess_to_json(p: &PreprocessConfig) -> Value {
    json!({
        "resize_shorter": p.resize_shorter,
        "crop": p.crop,
        "pixel_divisor": p.pixel_divisor,
        "mean": p.mean,
        "std": p.std,
        "channel_order": match p.channel_order { ChannelOrder::Rgb => "rgb", ChannelOrder::Bgr => "bgr" },
        "layout": layout_name(p.layout),
    })
}

fn layout_name(l: InputLayout) -> &'static str {
    match l {
        InputLayout::Nchw => "nchw",
        InputLayout::Nhwc => "nhwc",
    }
}

fn graph_to_json(g: &Graph) -> Result<Value> {
    let values = |v: &[ValueInfo]| -> Vec<Value> {
        v.iter().map(|i| json!({"name": i.name, "dims": dims_to_json(&i.dims)})).collect()
    };
    let mut nodes = Vec::with_capacity(g.nodes.len());
    for n in &g.nodes {
        let attrs: Vec<Value> =
            n.attrs.iter().map(|(k, a)| Ok(json!([k, attr_to_json(n, k, a)?]))).collect::<Result<_>>()?;
        nodes.push(json!({"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs, "attrs": attrs}));
    }
    // Input size and layout restate the preprocessing's crop and layout for
    // readers that only want to size an image.
    let input = g.preprocess.as_ref().map(|p| json!({"size": p.crop, "layout": layout_name(p.layout)}));
    Ok(json!({
        "graph": {"opset": g.opset, "inputs": values(&g.inputs), "outputs": values(&g.outputs), "nodes": nodes},
        "input": input,
        "preprocess": g.preprocess.as_ref().map(preprocess_to_json),
        "labels": g.labels,
    }))
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value> {
    v.get(k).ok_or_else(|| bad(format!("metadata lacks '{k}'")))
}

fn string(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| bad(format!("expected a string, got {v}")))
}

fn array(v: &Value) -> Result<&Vec<Value>> {
    v.as_array().ok_or_else(|| bad(format!("expected an array, got {v}")))
}

fn strings(v: &Value) -> Result<Vec<String>> {
    array(v)?.iter().map(string).collect()
}

fn int(v: &Value) -> Result<i64> {
    v.as_i64().ok_or_else(|| bad(format!("expected an integer, got {v}")))
}

fn size(v: &Value) -> Result<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| bad(format!("expected a size, got {v}")))
}

fn triple(v: &Value) -> Result<[f32; 3]> {
    let v: Vec<f32> = array(v)?.iter().map(unnum).collect::<Result<_>>()?;
    v.try_into().map_err(|_| bad("expected 3 values"))
}

fn constant_from_json(v: &Value) -> Result<Constant> {
    let dims: Vec<usize> = array(field(v, "dims")?)?.iter().map(size).collect::<Result<_>>()?;
    let n = element_count(&dims, "attribute tensor")?;
    let c = if let Some(f) = v.get("f32") {
        Constant::f32(dims, array(f)?.iter().map(unnum).collect::<Result<_>>()?)
    } else {
        Constant::i64(dims, array(field(v, "i64")?)?.iter().map(int).collect::<Result<_>>()?)
    };
    if c.len() != n {
        return Err(bad(format!("attribute tensor of shape {:?} holds {} values", c.dims, c.len())));
    }
    Ok(c)
}

fn attr_from_json(v: &Value) -> Result<AttrValue> {
    let (kind, x) = v.as_object().and_then(|o| o.iter().next()).ok_or_else(|| bad(format!("bad attribute {v}")))?;
    Ok(match kind.as_str() {
        "int" => AttrValue::Int(int(x)?),
        "float" => AttrValue::Float(unnum(x)?),
        "ints" => AttrValue::Ints(array(x)?.iter().map(int).collect::<Result<_>>()?),
        "floats" => AttrValue::Floats(array(x)?.iter().map(unnum).collect::<Result<_>>()?),
        "str" => AttrValue::Str(string(x)?),
        "strs" => AttrValue::Strs(strings(x)?),
        "tensor" => AttrValue::Tensor(constant_from_json(x)?),
        other => return Err(bad(format!("unknown attribute kind '{other}'"))),
    })
}

fn values_from_json(v: &Value) -> Result<Vec<ValueInfo>> {
    array(v)?
        .iter()
        .map(|i| {
            let dims = match field(i, "dims")? {
                Value::Null => None,
                d => Some(
                    array(d)?
                        .iter()
                        .map(|d| match d {
                            Value::String(s) => Ok(Dim::Symbolic(s.clone())),
                            n => size(n).map(Dim::Fixed),
                        })
                        .collect::<Result<_>>()?,
                ),
            };
            Ok(ValueInfo { name: string(field(i, "name")?)?, dims })
        })
        .collect()
}

fn preprocess_from_json(v: &Value) -> Result<PreprocessConfig> {
    let crop: Vec<usize> = array(field(v, "crop")?)?.iter().map(size).collect::<Result<_>>()?;
    let side = |n: usize| u32::try_from(n).map_err(|_| bad(format!("preprocess size {n} too large")));
    let [h, w] = crop[..] else { return Err(bad("preprocess crop needs [h, w]")) };
    let cfg = PreprocessConfig {
        resize_shorter: side(size(field(v, "resize_shorter")?)?)?,
        crop: [side(h)?, side(w)?],
        pixel_divisor: unnum(field(v, "pixel_divisor")?)?,
        mean: triple(field(v, "mean")?)?,
        std: triple(field(v, "std")?)?,
        channel_order: match field(v, "channel_order")?.as_str() {
            Some("rgb") => ChannelOrder::Rgb,
            Some("bgr") => ChannelOrder::Bgr,
            _ => return Err(bad("preprocess channel_order must be \"rgb\" or \"bgr\"")),
        },
        layout: match field(v, "layout")?.as_str() {
            Some("nchw") => InputLayout::Nchw,
            Some("nhwc") => InputLayout::Nhwc,
            _ => return Err(bad("preprocess layout must be \"nchw\" or \"nhwc\"")),
        },
    };
    cfg.validate().map_err(|e| bad(format!("preprocess: {e}")))?;
    Ok(cfg)
}

fn graph_from_json(doc: &Value) -> Result<Graph> {
    let g = field(doc, "graph")?;
    let mut nodes = Vec::new();
    for n in array(field(g, "nodes")?)? {
        let attrs = array(field(n, "attrs")?)?
            .iter()
            .map(|a| match a.as_array().map(Vec::as_slice) {
                Some([k, v]) => Ok((string(k)?, attr_from_json(v)?)),
                _ => Err(bad(format!("bad attribute entry {a}"))),
            })
            .collect::<Result<_>>()?;
        nodes.push(Node {
            name: string(field(n, "name")?)?,
            op: string(field(n, "op")?)?,
            inputs: strings(field(n, "inputs")?)?,
            outputs: strings(field(n, "outputs")?)?,
            attrs,
        });
    }
    let preprocess = match doc.get("preprocess") {
        None | Some(Value::Null) => None,
        Some(p) => Some(preprocess_from_json(p)?),
    };
    let labels = match doc.get("labels") {
        None | Some(Value::Null) => None,
        Some(l) => Some(strings(l)?),
    };
    Ok(Graph {
        inputs: values_from_json(field(g, "inputs")?)?,
        outputs: values_from_json(field(g, "outputs")?)?,
        nodes,
        initializers: Default::default(),
        opset: int(field(g, "opset")?)?,
        preprocess,
        labels,
    })
}
