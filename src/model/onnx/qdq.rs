//! QDQ models (ONNX Runtime's `quantize_static` output) as webresnet graphs.
//!
//! Such a model keeps float ops and marks quantization with two node kinds:
//! - `DequantizeLinear` of an integer initializer: a weight (int8, one scale
//!   per output channel) or a bias (int32). It is folded here into an f32
//!   initializer; int8 weights whose codes the int8 kernels recover exactly
//!   are named in [`Graph::int8_weights`], with their scales; int32 bias
//!   codes are kept too, for the int8 kernels' integer arithmetic.
//! - `QuantizeLinear` then `DequantizeLinear` on an activation: rounding to
//!   a per-tensor grid. The pair becomes one [`QDQ_OP`] node, which the plan
//!   lowers to a quantize step and which tells a following int8 conv its
//!   input's static scale and zero point.
//!
//! Only the element types matter beyond the values, and the graph widens
//! integers to i64, so this runs at import while the ONNX types are known.

use std::collections::{HashMap, HashSet};

use super::proto::data_type as dt;
use super::{bad, dtype_name};
use crate::error::{Error, Result};
use crate::model::{AttrValue, Constant, Graph, Node, TensorData};

/// The graph op a QuantizeLinear → DequantizeLinear pair becomes. Attributes:
/// `scale` (float), `zero_point`, `qmin`, `qmax` (ints): `y = (clamp(round_even(x
/// / scale) + zero_point, qmin, qmax) - zero_point) * scale`.
pub const QDQ_OP: &str = "webresnet.QuantizeDequantize";

/// The largest magnitude of the int8 weight codes the int8 kernels take.
const WEIGHT_CODE_MAX: i64 = 127;

/// A node's quantization parameters, checked.
struct Params {
    /// One value (per tensor) or one per slice along `axis`.
    scale: Vec<f32>,
    /// As long as `scale`; zeros when the model gives none.
    zero: Vec<i64>,
    /// The quantized element type: the zero point's, else the default.
    dtype: i32,
    /// The normalized axis, for per-axis parameters.
    axis: Option<usize>,
}

fn fail(node: &Node, msg: impl std::fmt::Display) -> Error {
    bad(format!("node '{}' ({}): {msg}", node.name, node.op))
}

/// Rewrites the QDQ nodes of `g`. `types` holds each initializer's ONNX
/// element type.
pub fn rewrite(g: &mut Graph, types: &HashMap<String, i32>) -> Result<()> {
    if !g.nodes.iter().any(|n| n.op == "QuantizeLinear" || n.op == "DequantizeLinear") {
        return Ok(());
    }
    let producers: HashMap<String, usize> =
        g.nodes.iter().enumerate().flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.clone(), i))).collect();
    let mut folded_from = HashSet::new();
    let mut rewritten = Vec::with_capacity(g.nodes.len());
    for i in 0..g.nodes.len() {
        let node = &g.nodes[i];
        if node.op != "DequantizeLinear" {
            rewritten.push(None);
            continue;
        }
        let x = node.input(0).ok_or_else(|| fail(node, "no input"))?.to_string();
        let out = node.outputs.first().filter(|o| !o.is_empty()).ok_or_else(|| fail(node, "no output"))?.clone();
        if g.initializers.contains_key(&out) {
            return Err(fail(node, format!("output '{out}' is also an initializer")));
        }
        if let Some(codes) = g.initializers.get(&x) {
            let dtype = types.get(&x).copied().unwrap_or(dt::UNDEFINED);
            let p = params(node, g, types, &codes.dims, dtype)?;
            if p.dtype != dtype {
                return Err(fail(node, format!("{} zero point for {} codes", dtype_name(p.dtype), dtype_name(dtype))));
            }
            let values = dequantize(node, codes, &p)?;
            let (dims, int8) = (codes.dims.clone(), dtype == dt::INT8 && int8_exact(&g.nodes, &out, codes, &p));
            if int8 {
                g.int8_weights.insert(out.clone());
                g.weight_scales.insert(out.clone(), p.scale.clone());
            } else if let Some(codes) = bias_codes(codes, &p) {
                g.bias_codes.insert(out.clone(), codes);
            }
            g.initializers.insert(out, Constant::f32(dims, values));
            folded_from.insert(x);
            rewritten.push(Some(None));
            continue;
        }
        let Some(q) = producers.get(&x).map(|&p| &g.nodes[p]).filter(|q| q.op == "QuantizeLinear") else {
            return Err(Error::unsupported(
                "DequantizeLinear",
                &node.name,
                format!("input '{x}' is neither an initializer nor a QuantizeLinear output"),
            ));
        };
        rewritten.push(Some(Some(pair(q, node, g, types)?)));
    }
    let nodes = std::mem::take(&mut g.nodes);
    g.nodes = nodes
        .into_iter()
        .zip(rewritten)
        .filter_map(|(n, r)| match r {
            None => Some(n),
            Some(r) => r,
        })
        .collect();
    // Quantize nodes whose every reader became a pair, and codes whose
    // every reader was folded, are no longer needed.
    let read = |g: &Graph| -> HashSet<String> {
        g.nodes.iter().flat_map(|n| n.inputs.iter().cloned()).chain(g.outputs.iter().map(|o| o.name.clone())).collect()
    };
    let wanted = read(g);
    g.nodes.retain(|n| n.op != "QuantizeLinear" || n.outputs.iter().any(|o| wanted.contains(o)));
    let read = read(g);
    g.initializers.retain(|name, _| !folded_from.contains(name) || read.contains(name));
    Ok(())
}

/// The pair `q` → `dq` as one [`QDQ_OP`] node reading `q`'s input.
fn pair(q: &Node, dq: &Node, g: &Graph, types: &HashMap<String, i32>) -> Result<Node> {
    let qp = params(q, g, types, &[], dt::UINT8)?;
    let dp = params(dq, g, types, &[], dt::UINT8)?;
    if qp.axis.is_some() || qp.scale.len() != 1 {
        return Err(Error::unsupported("QuantizeLinear", &q.name, "activations quantized per channel"));
    }
    if qp.scale != dp.scale || qp.zero != dp.zero || qp.dtype != dp.dtype || dp.axis.is_some() {
        return Err(Error::unsupported(
            "DequantizeLinear",
            &dq.name,
            format!("its parameters differ from those of QuantizeLinear '{}'", q.name),
        ));
    }
    let (qmin, qmax) = match qp.dtype {
        dt::UINT8 => (0, 255),
        dt::INT8 => (-128, 127),
        other => {
            return Err(Error::unsupported(
                "QuantizeLinear",
                &q.name,
                format!("activations quantized to {}", dtype_name(other)),
            ))
        }
    };
    let x = q.input(0).filter(|x| !x.is_empty()).ok_or_else(|| fail(q, "no input"))?;
    Ok(Node {
        name: dq.name.clone(),
        op: QDQ_OP.into(),
        inputs: vec![x.to_string()],
        outputs: dq.outputs.clone(),
        attrs: vec![
            ("scale".into(), AttrValue::Float(qp.scale[0])),
            ("zero_point".into(), AttrValue::Int(qp.zero[0])),
            ("qmin".into(), AttrValue::Int(qmin)),
            ("qmax".into(), AttrValue::Int(qmax)),
        ],
    })
}

/// `node`'s scale and zero point, whose data must be initializers. `dims`
/// is the quantized tensor's shape where it is known (an initializer's), for
/// per-axis parameters; `default` the quantized type when no zero point says.
fn params(node: &Node, g: &Graph, types: &HashMap<String, i32>, dims: &[usize], default: i32) -> Result<Params> {
    if node.int("block_size", 0)? != 0 {
        return Err(Error::unsupported(&node.op, &node.name, "blocked quantization"));
    }
    let constant = |i: usize, what: &str| -> Result<Option<(&Constant, i32)>> {
        let Some(name) = node.input(i).filter(|n| !n.is_empty()) else { return Ok(None) };
        let c = g.initializers.get(name).ok_or_else(|| fail(node, format!("{what} '{name}' is not an initializer")))?;
        Ok(Some((c, types.get(name).copied().unwrap_or(dt::UNDEFINED))))
    };
    let (scale, _) = constant(1, "scale")?.ok_or_else(|| fail(node, "no scale"))?;
    let TensorData::F32(scale_values) = &scale.data else {
        return Err(fail(node, "the scale is not a float tensor"));
    };
    if let Some(s) = scale_values.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(fail(node, format!("scale {s} is not a finite positive number")));
    }
    let zero = constant(2, "zero point")?;
    if let Some((z, _)) = zero.filter(|(z, _)| z.len() != scale.len()) {
        return Err(fail(node, format!("zero point of shape {:?} for a scale of shape {:?}", z.dims, scale.dims)));
    }
    let dtype = match zero {
        Some((_, t)) => t,
        None => match node.int("output_dtype", 0)? {
            0 => default,
            t => i32::try_from(t).map_err(|_| fail(node, format!("output_dtype {t}")))?,
        },
    };
    let axis = match scale.dims.len() {
        0 => None,
        1 if scale.len() == 1 => None,
        1 => {
            let rank = dims.len() as i64;
            let a = node.int("axis", 1)?;
            let a = if a < 0 { a + rank } else { a };
            match usize::try_from(a).ok().filter(|&a| a < dims.len()) {
                Some(a) if dims[a] == scale.len() => Some(a),
                Some(a) => {
                    return Err(fail(node, format!("{} scales for axis {a} of shape {dims:?}", scale.len())));
                }
                None if dims.is_empty() => {
                    return Err(Error::unsupported(&node.op, &node.name, "per-axis scales on an activation"))
                }
                None => return Err(fail(node, format!("axis {} out of range for shape {dims:?}", a))),
            }
        }
        _ => return Err(fail(node, format!("scale of shape {:?} (a scalar or 1-D)", scale.dims))),
    };
    let zero = match zero {
        Some((z, _)) => match &z.data {
            TensorData::I64(v) => v.clone(),
            TensorData::F32(_) => return Err(fail(node, "the zero point is not an integer tensor")),
        },
        None => vec![0; scale.len()],
    };
    Ok(Params { scale: scale_values.clone(), zero, dtype, axis })
}

/// `(codes - zero) * scale` per element.
fn dequantize(node: &Node, codes: &Constant, p: &Params) -> Result<Vec<f32>> {
    if !matches!(p.dtype, dt::INT8 | dt::UINT8 | dt::INT32) {
        return Err(Error::unsupported(&node.op, &node.name, format!("{} codes", dtype_name(p.dtype))));
    }
    let TensorData::I64(values) = &codes.data else {
        return Err(fail(node, "the codes are float, not integers"));
    };
    // The slice index along the axis for flat index i: (i / inner) % len.
    let inner: usize = p.axis.map_or(1, |a| codes.dims[a + 1..].iter().product());
    let len = p.scale.len();
    Ok(values
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let at = if len == 1 { 0 } else { (i / inner.max(1)) % len };
            (c - p.zero[at]) as f32 * p.scale[at]
        })
        .collect())
}

/// `codes` as an int32 bias's, kept for the int8 kernels: 1-D int32 codes
/// with no zero point.
fn bias_codes(codes: &Constant, p: &Params) -> Option<Vec<i32>> {
    let TensorData::I64(values) = &codes.data else { return None };
    if p.dtype != dt::INT32 || codes.dims.len() != 1 || p.zero.iter().any(|&z| z != 0) {
        return None;
    }
    values.iter().map(|&v| i32::try_from(v).ok()).collect()
}

/// Whether the int8 kernels get `codes` back exactly from the dequantized
/// weight `name`: every reader is a Conv or Gemm/MatMul taking it as its
/// weight, the zero point is 0, each output channel has one scale, and the
/// codes are symmetric (-128 is not one).
fn int8_exact(nodes: &[Node], name: &str, codes: &Constant, p: &Params) -> bool {
    let TensorData::I64(values) = &codes.data else { return false };
    let mut readers = nodes.iter().filter(|n| n.inputs.iter().any(|i| i == name)).peekable();
    readers.peek().is_some()
        && codes.dims.len() >= 2
        && p.zero.iter().all(|&z| z == 0)
        && values.iter().all(|c| c.abs() <= WEIGHT_CODE_MAX)
        && readers.all(|n| {
            let out_axis = match n.op.as_str() {
                "Conv" => Some(0),
                "Gemm" if n.int("transB", 0).is_ok_and(|t| t != 0) => Some(0),
                "Gemm" | "MatMul" => Some(1),
                _ => None,
            };
            n.input(1) == Some(name) && out_axis.is_some_and(|a| p.scale.len() == 1 || p.axis == Some(a))
        })
}
