//! The `model` document of a model file: the graph (nodes, attributes,
//! inputs and outputs), its preprocessing and labels, as JSON and back.

use serde_json::{json, Value};

use super::bad;
use crate::error::{Error, Result};
use crate::model::state_dict::element_count;
use crate::model::{AttrValue, Constant, Dim, Graph, Node, TensorData, ValueInfo};
use crate::preprocess::{ChannelOrder, InputLayout, PreprocessConfig};

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

pub(super) fn graph_to_json(g: &Graph) -> Result<Value> {
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

pub(super) fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value> {
    v.get(k).ok_or_else(|| bad(format!("metadata lacks '{k}'")))
}

fn string(v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| bad(format!("expected a string, got {v}")))
}

pub(super) fn array(v: &Value) -> Result<&Vec<Value>> {
    v.as_array().ok_or_else(|| bad(format!("expected an array, got {v}")))
}

fn strings(v: &Value) -> Result<Vec<String>> {
    array(v)?.iter().map(string).collect()
}

fn int(v: &Value) -> Result<i64> {
    v.as_i64().ok_or_else(|| bad(format!("expected an integer, got {v}")))
}

pub(super) fn size(v: &Value) -> Result<usize> {
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

pub(super) fn graph_from_json(doc: &Value) -> Result<Graph> {
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
        int8_weights: Default::default(),
        weight_scales: Default::default(),
        bias_codes: Default::default(),
    })
}
