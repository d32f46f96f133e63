//! ONNX import: the bytes of an `.onnx` file -> [`Graph`].
//!
//! Decoding is done by `prost` over the hand-declared messages in [`proto`].
//! Everything coming from the file is treated as hostile: every failure is an
//! [`Error::ModelFormat`], never a panic, and no allocation is sized from a
//! number in the file without first checking it against data actually present
//! (so the output is bounded by a small multiple of the input size).

pub mod proto;
mod qdq;

pub use qdq::QDQ_OP;

use super::{AttrValue, Constant, Dim, Graph, Node, TensorData, ValueInfo};
use crate::error::{Error, Result};
use prost::Message;
use proto::{attr_type as at, data_type as dt};
use std::collections::HashMap;

/// Largest declared dimension we accept in an input/output shape. Keeps
/// `usize` conversions identical on wasm32 and 64-bit hosts.
const MAX_DECLARED_DIM: i64 = i32::MAX as i64;

fn bad(msg: impl Into<String>) -> Error {
    Error::ModelFormat(msg.into())
}

/// Decode an ONNX `ModelProto` and convert its main graph.
pub fn import(bytes: &[u8]) -> Result<Graph> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| bad(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model.graph.ok_or_else(|| bad("no graph in the file (is this an ONNX model?)"))?;
    let opset = default_opset(&model.opset_import)?;
    convert_graph(graph, opset)
}

fn is_default_domain(domain: &str) -> bool {
    domain.is_empty() || domain == "ai.onnx"
}

fn default_opset(imports: &[proto::OperatorSetIdProto]) -> Result<i64> {
    // Several entries for the default domain would be malformed; take the
    // highest rather than fail, as other runtimes do.
    let opset = imports
        .iter()
        .filter(|o| is_default_domain(&o.domain))
        .map(|o| o.version)
        .max()
        .ok_or_else(|| bad("model imports no version of the default ONNX opset"))?;
    if opset < 1 {
        return Err(bad(format!("invalid default-domain opset version {opset}")));
    }
    Ok(opset)
}

fn convert_graph(g: proto::GraphProto, opset: i64) -> Result<Graph> {
    if g.node.is_empty() {
        return Err(bad("graph has no nodes"));
    }
    if !g.sparse_initializer.is_empty() {
        return Err(bad("sparse initializers are not supported"));
    }

    let mut initializers = HashMap::with_capacity(g.initializer.len());
    // Element types, which the widened constants lose: QDQ needs them.
    let mut types = HashMap::with_capacity(g.initializer.len());
    // Consume the tensors one by one so each raw buffer is freed once converted.
    for t in g.initializer {
        if t.name.is_empty() {
            return Err(bad("an initializer has no name"));
        }
        let name = t.name.clone();
        types.insert(name.clone(), t.data_type);
        let c = convert_tensor(t, &format!("initializer '{name}'"))?;
        if initializers.insert(name.clone(), c).is_some() {
            return Err(bad(format!("initializer '{name}' is defined twice")));
        }
    }

    // Old exporters list every initializer as a graph input too; those are
    // constants, not values the caller supplies.
    let inputs = g
        .input
        .into_iter()
        .filter(|v| !initializers.contains_key(&v.name))
        .map(|v| convert_value_info(v, "input"))
        .collect::<Result<Vec<_>>>()?;
    let outputs = g.output.into_iter().map(|v| convert_value_info(v, "output")).collect::<Result<Vec<_>>>()?;
    if outputs.is_empty() {
        return Err(bad("graph declares no outputs"));
    }

    let nodes = g.node.into_iter().enumerate().map(|(i, n)| convert_node(n, i)).collect::<Result<Vec<_>>>()?;

    let mut graph = Graph {
        inputs,
        outputs,
        nodes,
        initializers,
        opset,
        preprocess: None,
        labels: None,
        int8_weights: Default::default(),
        weight_scales: Default::default(),
        bias_codes: Default::default(),
    };
    qdq::rewrite(&mut graph, &types)?;
    Ok(graph)
}

fn convert_value_info(v: proto::ValueInfoProto, role: &str) -> Result<ValueInfo> {
    if v.name.is_empty() {
        return Err(bad(format!("a graph {role} has no name")));
    }
    let tensor_type = v.r#type.and_then(|t| t.tensor_type);
    // webresnet computes in f32: an image input of another type (0 = unset) is a
    // different model, not one to feed floats to. Outputs may be declared loosely.
    if let Some(t) = tensor_type.as_ref().filter(|t| role == "input" && ![0, dt::FLOAT].contains(&t.elem_type)) {
        return Err(bad(format!(
            "graph input '{}' has element type {}; only FLOAT inputs are supported",
            v.name,
            dtype_name(t.elem_type)
        )));
    }
    let shape = tensor_type.and_then(|t| t.shape);
    let dims = match shape {
        None => None,
        Some(s) => Some(s.dim.into_iter().map(|d| convert_dim(d, &v.name, role)).collect::<Result<Vec<_>>>()?),
    };
    Ok(ValueInfo { name: v.name, dims })
}

fn convert_dim(d: proto::Dimension, name: &str, role: &str) -> Result<Dim> {
    match (d.dim_value, d.dim_param) {
        (Some(v), _) if !(0..=MAX_DECLARED_DIM).contains(&v) => {
            Err(bad(format!("graph {role} '{name}' declares an invalid dimension {v}")))
        }
        (Some(v), _) => Ok(Dim::Fixed(v as usize)),
        (None, Some(p)) if !p.is_empty() => Ok(Dim::Symbolic(p)),
        // Neither set: an unknown dimension with no name.
        _ => Ok(Dim::Symbolic("?".to_string())),
    }
}

fn convert_node(n: proto::NodeProto, index: usize) -> Result<Node> {
    if n.op_type.is_empty() {
        return Err(bad(format!("node #{index} ('{}') has no op_type", n.name)));
    }
    // Ops from other domains keep a qualified name, so the planner can never
    // mistake e.g. `com.microsoft.Conv` for the standard `Conv` and rejects
    // it by that name.
    let op = if is_default_domain(&n.domain) { n.op_type } else { format!("{}.{}", n.domain, n.op_type) };
    // Names are optional in ONNX; synthesize one so errors can point at the node.
    let name = if n.name.is_empty() { format!("{op}_{index}") } else { n.name };
    let attrs = n.attribute.into_iter().map(|a| convert_attr(a, &name)).collect::<Result<Vec<_>>>()?;
    Ok(Node { name, op, inputs: n.input, outputs: n.output, attrs })
}

/// The attribute's kind: its `type` field, or for IR v1 files (no `type`)
/// whichever value field is present.
fn attr_kind(a: &proto::AttributeProto) -> i32 {
    if a.r#type != at::UNDEFINED {
        return a.r#type;
    }
    if a.t.is_some() {
        at::TENSOR
    } else if a.g.is_some() {
        at::GRAPH
    } else if a.f.is_some() {
        at::FLOAT
    } else if a.i.is_some() {
        at::INT
    } else if a.s.is_some() {
        at::STRING
    } else if !a.floats.is_empty() {
        at::FLOATS
    } else if !a.ints.is_empty() {
        at::INTS
    } else if !a.strings.is_empty() {
        at::STRINGS
    } else if !a.tensors.is_empty() {
        at::TENSORS
    } else if !a.graphs.is_empty() {
        at::GRAPHS
    } else {
        at::UNDEFINED
    }
}

fn utf8(bytes: Vec<u8>, what: &dyn Fn() -> String) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| bad(format!("{} is not valid UTF-8", what())))
}

fn convert_attr(a: proto::AttributeProto, node: &str) -> Result<(String, AttrValue)> {
    if a.name.is_empty() {
        return Err(bad(format!("node '{node}' has an attribute with no name")));
    }
    // Move the value fields out (no copies of big tensors); `what` borrows
    // only `name`.
    let kind = attr_kind(&a);
    let proto::AttributeProto { name, f, i, s, t, floats, ints, strings, .. } = a;
    let what = || format!("attribute '{name}' of node '{node}'");
    let value = match kind {
        at::FLOAT => AttrValue::Float(f.unwrap_or(0.0)),
        at::INT => AttrValue::Int(i.unwrap_or(0)),
        at::STRING => AttrValue::Str(utf8(s.unwrap_or_default(), &what)?),
        at::TENSOR => {
            let t = t.ok_or_else(|| bad(format!("{} has no tensor", what())))?;
            AttrValue::Tensor(convert_tensor(t, &what())?)
        }
        at::FLOATS => AttrValue::Floats(floats),
        at::INTS => AttrValue::Ints(ints),
        at::STRINGS => AttrValue::Strs(strings.into_iter().map(|s| utf8(s, &what)).collect::<Result<Vec<_>>>()?),
        // Kinds webresnet never evaluates: kept by kind name for error messages.
        at::GRAPH => AttrValue::Other("graph"),
        at::GRAPHS => AttrValue::Other("graphs"),
        at::TENSORS => AttrValue::Other("tensors"),
        at::SPARSE_TENSOR => AttrValue::Other("sparse_tensor"),
        at::SPARSE_TENSORS => AttrValue::Other("sparse_tensors"),
        at::TYPE_PROTO => AttrValue::Other("type_proto"),
        at::TYPE_PROTOS => AttrValue::Other("type_protos"),
        at::UNDEFINED => return Err(bad(format!("{} has no value", what()))),
        other => return Err(bad(format!("{} has unknown type {other}", what()))),
    };
    Ok((name, value))
}

fn dtype_name(code: i32) -> &'static str {
    match code {
        dt::UNDEFINED => "UNDEFINED",
        dt::FLOAT => "FLOAT",
        dt::UINT8 => "UINT8",
        dt::INT8 => "INT8",
        dt::UINT16 => "UINT16",
        dt::INT16 => "INT16",
        dt::INT32 => "INT32",
        dt::INT64 => "INT64",
        dt::STRING => "STRING",
        dt::BOOL => "BOOL",
        dt::FLOAT16 => "FLOAT16",
        dt::DOUBLE => "DOUBLE",
        dt::UINT32 => "UINT32",
        dt::UINT64 => "UINT64",
        dt::COMPLEX64 => "COMPLEX64",
        dt::COMPLEX128 => "COMPLEX128",
        dt::BFLOAT16 => "BFLOAT16",
        17..=20 => "FLOAT8",
        21 | 22 | 25 | 26 => "sub-byte INT",
        23 | 27 | 28 => "sub-byte FLOAT",
        24 => "FLOAT8E8M0",
        _ => "unknown",
    }
}

/// IEEE 754 half -> single, exact (every f16 is representable as f32).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        // Zero or subnormal: man * 2^-24, exact in f32.
        0 => {
            let mag = man as f32 * f32::from_bits(0x3380_0000);
            f32::from_bits(sign | mag.to_bits())
        }
        // Inf / NaN (payload kept).
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        // Normal: rebias exponent 15 -> 127.
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Little-endian fixed-width elements from `raw_data`; the byte length must be
/// exactly `count * N`.
fn from_raw<const N: usize, T>(
    raw: &[u8],
    count: usize,
    f: impl Fn([u8; N]) -> T,
) -> std::result::Result<Vec<T>, String> {
    let need = count.checked_mul(N).ok_or("byte size overflows")?;
    if raw.len() != need {
        return Err(format!(
            "raw_data has {} bytes but the dims need {count} elements x {N} bytes = {need}",
            raw.len()
        ));
    }
    Ok(raw.chunks_exact(N).map(|c| f(<[u8; N]>::try_from(c).unwrap_or([0; N]))).collect())
}

/// Elements from a typed field (`float_data`, `int32_data`, ...); the count
/// must match the dims.
fn from_typed<S: Copy, T>(
    vals: &[S],
    field: &str,
    count: usize,
    f: impl Fn(S) -> T,
) -> std::result::Result<Vec<T>, String> {
    if vals.len() != count {
        return Err(format!("{field} holds {} values but the dims need {count}", vals.len()));
    }
    Ok(vals.iter().map(|&v| f(v)).collect())
}

/// Convert one tensor. `what` names it in errors ("initializer 'w'",
/// "attribute 'value' of node 'c'").
fn convert_tensor(t: proto::TensorProto, what: &str) -> Result<Constant> {
    let fail = |msg: String| bad(format!("{what}: {msg}"));
    check_inline(&t).map_err(fail)?;
    let (dims, count) = tensor_dims(&t.dims).map_err(fail)?;
    let data = decode(&t, count).map_err(fail)?;
    Ok(Constant { dims, data })
}

/// Only tensors stored in the file itself are read.
fn check_inline(t: &proto::TensorProto) -> std::result::Result<(), String> {
    if t.data_location == proto::DATA_LOCATION_EXTERNAL || !t.external_data.is_empty() {
        let loc = t.external_data.iter().find(|e| e.key == "location").map(|e| e.value.as_str()).unwrap_or("?");
        return Err(format!(
            "data is stored in an external file ('{loc}'); only self-contained .onnx files \
             are supported (re-save the model with all tensors inside the file)"
        ));
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    Ok(())
}

/// The dims as sizes, and the element count they give.
fn tensor_dims(raw: &[i64]) -> std::result::Result<(Vec<usize>, usize), String> {
    let mut dims = Vec::with_capacity(raw.len());
    let mut count: usize = 1;
    for &d in raw {
        if d < 0 {
            return Err(format!("negative dimension {d} in dims {raw:?}"));
        }
        let d = usize::try_from(d).map_err(|_| format!("dimension {d} is too large in dims {raw:?}"))?;
        count = count.checked_mul(d).ok_or_else(|| format!("element count overflows for dims {raw:?}"))?;
        dims.push(d);
    }
    Ok((dims, count))
}

/// A tensor's `count` values, from `raw_data` when it is present (the ONNX
/// rule; an empty raw_data means "not set"), else from its typed field.
struct Values<'a> {
    raw: &'a [u8],
    count: usize,
}

impl Values<'_> {
    /// `raw` decodes one little-endian element; `field` is the typed field
    /// (and its name), `typed` converts one of its entries.
    fn read<const N: usize, S: Copy, T>(
        &self,
        raw: impl Fn([u8; N]) -> T,
        field: (&[S], &str),
        typed: impl Fn(S) -> T,
    ) -> std::result::Result<Vec<T>, String> {
        if self.raw.is_empty() {
            from_typed(field.0, field.1, self.count, typed)
        } else {
            from_raw(self.raw, self.count, raw)
        }
    }
}

/// The values of `t`, widened to f32 or i64.
fn decode(t: &proto::TensorProto, count: usize) -> std::result::Result<TensorData, String> {
    let v = Values { raw: &t.raw_data, count };
    // Narrow integers, bools and (bit-wise, in the low 16 bits) halves are stored in int32_data.
    let int32 = (&t.int32_data[..], "int32_data");
    let uint64 = (&t.uint64_data[..], "uint64_data");
    let wide = |x: i32| x as i64;
    Ok(match t.data_type {
        dt::FLOAT => TensorData::F32(v.read(f32::from_le_bytes, (&t.float_data, "float_data"), |x| x)?),
        dt::DOUBLE => {
            TensorData::F32(v.read(|b| f64::from_le_bytes(b) as f32, (&t.double_data, "double_data"), |x| x as f32)?)
        }
        dt::FLOAT16 => {
            TensorData::F32(v.read(|b| f16_to_f32(u16::from_le_bytes(b)), int32, |x| f16_to_f32(x as u16))?)
        }
        dt::BFLOAT16 => {
            TensorData::F32(v.read(|b| bf16_to_f32(u16::from_le_bytes(b)), int32, |x| bf16_to_f32(x as u16))?)
        }
        dt::INT64 => TensorData::I64(v.read(i64::from_le_bytes, (&t.int64_data, "int64_data"), |x| x)?),
        dt::INT32 => TensorData::I64(v.read(|b| i32::from_le_bytes(b) as i64, int32, wide)?),
        dt::INT16 => TensorData::I64(v.read(|b| i16::from_le_bytes(b) as i64, int32, wide)?),
        dt::UINT16 => TensorData::I64(v.read(|b| u16::from_le_bytes(b) as i64, int32, wide)?),
        dt::INT8 => TensorData::I64(v.read(|[b]: [u8; 1]| b as i8 as i64, int32, wide)?),
        dt::UINT8 => TensorData::I64(v.read(|[b]: [u8; 1]| b as i64, int32, wide)?),
        dt::BOOL => TensorData::I64(v.read(|[b]: [u8; 1]| (b != 0) as i64, int32, |x| (x != 0) as i64)?),
        dt::UINT32 => TensorData::I64(to_i64(v.read(|b| u32::from_le_bytes(b) as u64, uint64, |x| x)?)?),
        dt::UINT64 => TensorData::I64(to_i64(v.read(u64::from_le_bytes, uint64, |x| x)?)?),
        other => return Err(format!("data type {} ({other}) is not supported", dtype_name(other))),
    })
}

fn to_i64(v: Vec<u64>) -> std::result::Result<Vec<i64>, String> {
    v.into_iter().map(|x| i64::try_from(x).map_err(|_| format!("value {x} does not fit in int64"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::*;

    fn tensor(dims: &[i64], data_type: i32) -> TensorProto {
        TensorProto { dims: dims.to_vec(), data_type, ..Default::default() }
    }

    #[test]
    fn f16_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // smallest subnormal
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24)); // largest subnormal
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14)); // smallest normal
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
    }

    #[test]
    fn every_f16_round_trips_through_f32_bits() {
        // Re-encode each finite f32 result to half by hand and compare bits:
        // catches off-by-one exponent or mantissa shifts anywhere in the range.
        for h in 0u16..=0xffff {
            let f = f16_to_f32(h);
            if f.is_nan() {
                continue;
            }
            let b = f.to_bits();
            let sign = ((b >> 16) & 0x8000) as u16;
            let exp = ((b >> 23) & 0xff) as i32;
            let man = b & 0x7f_ffff;
            let back = if f.is_infinite() {
                sign | 0x7c00
            } else if exp == 0 {
                sign
            } else if exp - 127 < -14 {
                // f16 subnormal: value = m * 2^-24
                sign | (f.abs() / 2f32.powi(-24)) as u16
            } else {
                sign | (((exp - 112) as u16) << 10) | (man >> 13) as u16
            };
            assert_eq!(back, h, "half {h:#06x} -> {f}");
        }
    }

    #[test]
    fn dims_are_checked() {
        let mut t = tensor(&[2, -3], dt::FLOAT);
        t.float_data = vec![0.0; 6];
        let e = convert_tensor(t, "x").unwrap_err();
        assert!(matches!(&e, Error::ModelFormat(m) if m.contains("negative")), "{e}");

        let t = tensor(&[1 << 40, 1 << 40], dt::FLOAT);
        let e = convert_tensor(t, "x").unwrap_err();
        assert!(matches!(&e, Error::ModelFormat(m) if m.contains("overflow")), "{e}");

        // Huge but non-overflowing dims: caught by the data count, nothing allocated.
        let mut t = tensor(&[1 << 40], dt::FLOAT);
        t.raw_data = vec![0; 8];
        let e = convert_tensor(t, "x").unwrap_err();
        assert!(matches!(&e, Error::ModelFormat(m) if m.contains("raw_data")), "{e}");

        // Zero-sized tensors are fine.
        let c = convert_tensor(tensor(&[0, 5], dt::FLOAT), "x").unwrap();
        assert_eq!(c, Constant::f32(vec![0, 5], vec![]));
        // Scalars have one element.
        let mut t = tensor(&[], dt::INT64);
        t.int64_data = vec![7];
        assert_eq!(convert_tensor(t, "x").unwrap(), Constant::i64(vec![], vec![7]));
    }

    #[test]
    fn integer_types_widen() {
        let cases: Vec<(i32, Vec<u8>, Vec<i64>)> = vec![
            (dt::INT8, vec![0xff, 0x7f], vec![-1, 127]),
            (dt::UINT8, vec![0xff, 0x7f], vec![255, 127]),
            (dt::BOOL, vec![0, 1], vec![0, 1]),
            (dt::INT16, vec![0xff, 0xff, 2, 0], vec![-1, 2]),
            (dt::UINT16, vec![0xff, 0xff, 2, 0], vec![65535, 2]),
        ];
        for (code, raw, want) in cases {
            let mut t = tensor(&[2], code);
            t.raw_data = raw;
            assert_eq!(convert_tensor(t, "x").unwrap(), Constant::i64(vec![2], want), "{code}");
        }
        let mut t = tensor(&[2], dt::UINT32);
        t.raw_data = [u32::MAX.to_le_bytes(), 5u32.to_le_bytes()].concat();
        assert_eq!(convert_tensor(t, "x").unwrap().to_i64(), vec![u32::MAX as i64, 5]);
        let mut t = tensor(&[1], dt::UINT64);
        t.uint64_data = vec![u64::MAX];
        assert!(convert_tensor(t, "x").is_err());
        let mut t = tensor(&[2], dt::DOUBLE);
        t.double_data = vec![0.5, -2.0];
        assert_eq!(convert_tensor(t, "x").unwrap(), Constant::f32(vec![2], vec![0.5, -2.0]));
    }

    #[test]
    fn unsupported_dtypes_are_named() {
        let mut t = tensor(&[1], dt::STRING);
        t.string_data = vec![b"a".to_vec()];
        let e = convert_tensor(t, "initializer 's'").unwrap_err().to_string();
        assert!(e.contains("'s'") && e.contains("STRING"), "{e}");
        let e = convert_tensor(tensor(&[1], 99), "initializer 'q'").unwrap_err().to_string();
        assert!(e.contains("'q'") && e.contains("99"), "{e}");
    }

    #[test]
    fn attribute_kind_is_inferred_without_type() {
        let a = AttributeProto { name: "k".into(), i: Some(0), ..Default::default() };
        assert_eq!(convert_attr(a, "n").unwrap().1, AttrValue::Int(0));
        let a = AttributeProto { name: "k".into(), f: Some(0.0), ..Default::default() };
        assert_eq!(convert_attr(a, "n").unwrap().1, AttrValue::Float(0.0));
        let a = AttributeProto { name: "k".into(), ints: vec![1, 2], ..Default::default() };
        assert_eq!(convert_attr(a, "n").unwrap().1, AttrValue::Ints(vec![1, 2]));
        let a = AttributeProto { name: "k".into(), ..Default::default() };
        assert!(convert_attr(a, "n").is_err());
        // An explicit type with an empty list is an empty list, not an error.
        let a = AttributeProto { name: "k".into(), r#type: at::INTS, ..Default::default() };
        assert_eq!(convert_attr(a, "n").unwrap().1, AttrValue::Ints(vec![]));
        let a = AttributeProto { name: "k".into(), r#type: 77, ..Default::default() };
        assert!(convert_attr(a, "n").is_err());
    }

    #[test]
    fn opset_selection() {
        let o = |d: &str, v| OperatorSetIdProto { domain: d.into(), version: v };
        assert_eq!(default_opset(&[o("com.microsoft", 1), o("", 13)]).unwrap(), 13);
        assert_eq!(default_opset(&[o("ai.onnx", 17)]).unwrap(), 17);
        assert!(default_opset(&[o("com.microsoft", 1)]).is_err());
        assert!(default_opset(&[]).is_err());
        assert!(default_opset(&[o("", 0)]).is_err());
    }
}
