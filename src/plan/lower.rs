//! ONNX-style graph -> unfused steps over activation tensors.
//!
//! Walks nodes in dependency order. Nodes whose inputs are all constant are
//! folded (`consts`); the rest become one [`Step`] each, or a free view.
//! Each activation keeps its logical (ONNX) shape and a physical layout;
//! conversions between NHWC and plain are inserted only where an op needs them.

use super::consts::{self, norm_axis};
use super::{Activation, Affine, Conv, Dense, Layout, Pool, PoolKind, Step, TensorId, TensorInfo};
use crate::error::{Error, Result};
use crate::model::{Constant, Dim, Graph, Node, TensorData};
use crate::transpose::{transpose, transpose_into};
use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::rc::Rc;

/// Limit on any single activation, in elements; protects against hostile shapes.
const MAX_ACTIVATION_ELEMENTS: usize = 1 << 31;

/// A model value while lowering.
#[derive(Clone)]
enum Value<'g> {
    Const(Const<'g>),
    Act(TensorId),
}

/// A constant while lowering, never copied to be read: an initializer
/// borrowed from the graph, or one the lowering owns (a folded value, or an
/// initializer of a graph handed over whole, whose weights a conv or dense
/// layer then takes instead of copying: see `Lowerer::weight_values`).
#[derive(Clone)]
enum Const<'g> {
    Borrowed(&'g Constant),
    Owned(Rc<Constant>),
}

impl Deref for Const<'_> {
    type Target = Constant;
    fn deref(&self) -> &Constant {
        match self {
            Const::Borrowed(c) => c,
            Const::Owned(c) => c,
        }
    }
}

fn owned<'g>(c: Constant) -> Value<'g> {
    Value::Const(Const::Owned(Rc::new(c)))
}

/// Lowering result, before fusion and allocation.
pub(super) struct Draft {
    pub tensors: Vec<TensorInfo>,
    /// Logical shape per tensor.
    pub logical: Vec<Vec<usize>>,
    /// `view_of[t] = Some(base)` when `t` shares memory with `base` (no step writes it).
    pub view_of: Vec<Option<TensorId>>,
    pub steps: Vec<Step>,
    pub input: TensorId,
    pub input_name: String,
    pub output: TensorId,
    pub output_name: String,
    pub folded_nodes: usize,
}

struct Lowerer<'g> {
    graph: &'g Graph,
    values: HashMap<String, Value<'g>>,
    /// How many node inputs and graph outputs name each value.
    readers: HashMap<&'g str, usize>,
    draft: Draft,
    to_nhwc: HashMap<TensorId, TensorId>,
    to_plain: HashMap<TensorId, TensorId>,
}

fn shape_err(node: &Node, msg: impl std::fmt::Display) -> Error {
    Error::Shape(format!("node '{}' ({}): {msg}", node.name, node.op))
}

/// ONNX 2-D spatial attributes shared by Conv and the pools.
struct Window {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 4],
    out: [usize; 2],
}

fn pair(node: &Node, name: &str, default: usize) -> Result<[usize; 2]> {
    match node.ints(name)? {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (1..=1 << 16).contains(&x)) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(Error::unsupported(&node.op, &node.name, format!("{name} {v:?} (only 2-D, positive)"))),
    }
}

fn window(node: &Node, in_hw: [usize; 2], kernel: [usize; 2], ceil_mode: bool) -> Result<Window> {
    let stride = pair(node, "strides", 1)?;
    let dilation = pair(node, "dilations", 1)?;
    let auto_pad = node.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let extent = |i: usize| (kernel[i] - 1) * dilation[i] + 1;
    let mut pad = [0usize; 4];
    match auto_pad.as_str() {
        "NOTSET" => {
            if let Some(p) = node.ints("pads")? {
                if p.len() != 4 || p.iter().any(|&x| !(0..=1 << 16).contains(&x)) {
                    return Err(Error::unsupported(
                        &node.op,
                        &node.name,
                        format!("pads {p:?} (only 2-D, non-negative)"),
                    ));
                }
                pad = [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize];
            }
        }
        "VALID" => {}
        "SAME_UPPER" | "SAME_LOWER" => {
            for i in 0..2 {
                let out = in_hw[i].div_ceil(stride[i]);
                let total = ((out - 1) * stride[i] + extent(i)).saturating_sub(in_hw[i]);
                let small = total / 2;
                let (begin, end) =
                    if auto_pad == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
                pad[i] = begin;
                pad[i + 2] = end;
            }
        }
        other => return Err(Error::unsupported(&node.op, &node.name, format!("auto_pad {other}"))),
    }
    let mut out = [0usize; 2];
    for i in 0..2 {
        let padded = in_hw[i] + pad[i] + pad[i + 2];
        if padded < extent(i) {
            return Err(shape_err(node, format!("window {kernel:?} larger than padded input {in_hw:?}")));
        }
        let span = padded - extent(i);
        out[i] = if ceil_mode { span.div_ceil(stride[i]) + 1 } else { span / stride[i] + 1 };
        // A ceil-mode window must start inside the input or its leading pad.
        if ceil_mode && (out[i] - 1) * stride[i] >= in_hw[i] + pad[i] {
            out[i] -= 1;
        }
    }
    Ok(Window { kernel, stride, dilation, pad, out })
}

impl<'g> Lowerer<'g> {
    fn new_tensor(
        &mut self,
        logical: Vec<usize>,
        layout: Layout,
        name: &str,
        view_of: Option<TensorId>,
    ) -> Result<TensorId> {
        let n = logical.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n.is_none_or(|n| n > MAX_ACTIVATION_ELEMENTS) {
            return Err(Error::Limit(format!("activation '{name}' of shape {logical:?} is too large")));
        }
        let shape = match layout {
            Layout::Nhwc => vec![logical[0], logical[2], logical[3], logical[1]],
            Layout::Plain => logical.clone(),
        };
        let d = &mut self.draft;
        d.tensors.push(TensorInfo { shape, layout, offset: 0, name: name.to_string() });
        d.logical.push(logical);
        d.view_of.push(view_of.map(|b| d.view_of[b].unwrap_or(b)));
        Ok(d.tensors.len() - 1)
    }

    fn logical(&self, t: TensorId) -> &[usize] {
        &self.draft.logical[t]
    }

    fn layout(&self, t: TensorId) -> Layout {
        self.draft.tensors[t].layout
    }

    fn push(&mut self, step: Step) {
        self.draft.steps.push(step);
    }

    /// The same logical tensor stored NHWC (converting a plain 4-D tensor once).
    fn nhwc(&mut self, t: TensorId, node: &Node) -> Result<TensorId> {
        if self.layout(t) == Layout::Nhwc {
            return Ok(t);
        }
        let shape = self.logical(t).to_vec();
        if shape.len() != 4 {
            return Err(shape_err(node, format!("expected a 4-D NCHW input, got shape {shape:?}")));
        }
        if let Some(&c) = self.to_nhwc.get(&t) {
            return Ok(c);
        }
        let name = self.draft.tensors[t].name.clone() + "/nhwc";
        let out = if shape[2] * shape[3] == 1 || shape[1] == 1 {
            // Same bytes either way: a view.
            self.new_tensor(shape, Layout::Nhwc, &name, Some(t))?
        } else {
            let out = self.new_tensor(shape.clone(), Layout::Nhwc, &name, None)?;
            self.push(Step::Permute { input: t, output: out, in_shape: shape, perm: vec![0, 2, 3, 1] });
            out
        };
        self.to_nhwc.insert(t, out);
        Ok(out)
    }

    /// The same logical tensor in plain row-major order.
    fn plain(&mut self, t: TensorId) -> Result<TensorId> {
        if self.layout(t) == Layout::Plain {
            return Ok(t);
        }
        if let Some(&c) = self.to_plain.get(&t) {
            return Ok(c);
        }
        let shape = self.logical(t).to_vec();
        let name = self.draft.tensors[t].name.clone() + "/nchw";
        let out = if shape[2] * shape[3] == 1 || shape[1] == 1 {
            self.new_tensor(shape, Layout::Plain, &name, Some(t))?
        } else {
            let out = self.new_tensor(shape, Layout::Plain, &name, None)?;
            let phys = self.draft.tensors[t].shape.clone();
            self.push(Step::Permute { input: t, output: out, in_shape: phys, perm: vec![0, 3, 1, 2] });
            out
        };
        self.to_plain.insert(t, out);
        Ok(out)
    }

    /// A plain view with a new logical shape (same element count).
    fn view(&mut self, t: TensorId, shape: Vec<usize>, name: &str) -> Result<TensorId> {
        let base = self.plain(t)?;
        self.new_tensor(shape, Layout::Plain, name, Some(base))
    }

    fn input(&self, node: &Node, i: usize) -> Result<Value<'g>> {
        let name =
            node.input(i).ok_or_else(|| Error::unsupported(&node.op, &node.name, format!("missing input {i}")))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ModelFormat(format!("node '{}' reads undefined value '{name}'", node.name)))
    }

    fn act(&self, node: &Node, i: usize) -> Result<TensorId> {
        match self.input(node, i)? {
            Value::Act(t) => Ok(t),
            Value::Const(_) => {
                Err(Error::unsupported(&node.op, &node.name, format!("input {i} must not be constant here")))
            }
        }
    }

    fn constant(&self, node: &Node, i: usize) -> Result<Const<'g>> {
        match self.input(node, i)? {
            Value::Const(c) => Ok(c),
            Value::Act(_) => {
                Err(Error::unsupported(&node.op, &node.name, format!("input {i} must be a constant (initializer)")))
            }
        }
    }

    fn opt_constant(&self, node: &Node, i: usize) -> Result<Option<Const<'g>>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        self.constant(node, i).map(Some)
    }

    /// A constant that holds learned values: integers there are a wrong
    /// dtype (a broken export), not numbers to convert silently.
    fn weight(&self, node: &Node, i: usize) -> Result<Const<'g>> {
        let c = self.constant(node, i)?;
        match c.data {
            TensorData::F32(_) => Ok(c),
            TensorData::I64(_) => Err(Error::ModelFormat(format!(
                "node '{}' ({}): input {i} has an integer dtype where float weights belong",
                node.name, node.op
            ))),
        }
    }

    fn opt_weight(&self, node: &Node, i: usize) -> Result<Option<Const<'g>>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        self.weight(node, i).map(Some)
    }

    /// The values of weight `w`, input `i` of `node`: taken if the lowering
    /// owns them and nothing else reads them, else copied.
    fn weight_values(&mut self, node: &Node, i: usize, w: Const<'g>) -> Vec<f32> {
        if let Some(name) = node.input(i).filter(|n| self.readers.get(n) == Some(&1)) {
            self.values.remove(name);
        }
        match w {
            Const::Owned(c) => match Rc::try_unwrap(c) {
                Ok(Constant { data: TensorData::F32(v), .. }) => v,
                Ok(c) => c.to_f32(),
                Err(shared) => shared.to_f32(),
            },
            Const::Borrowed(c) => c.to_f32(),
        }
    }

    fn output_name<'n>(&self, node: &'n Node) -> Result<&'n str> {
        node.outputs
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::ModelFormat(format!("node '{}' has no output", node.name)))
    }

    fn define(&mut self, node: &Node, v: Value<'g>) -> Result<()> {
        let name = self.output_name(node)?.to_string();
        self.values.insert(name, v);
        Ok(())
    }

    /// Emits `act(x * scale + shift)` per channel; NHWC for 4-D inputs.
    fn affine(
        &mut self,
        node: &Node,
        x: TensorId,
        scale: Vec<f32>,
        shift: Vec<f32>,
        activation: Activation,
    ) -> Result<()> {
        let x =
            if self.logical(x).len() == 4 && (scale.len() > 1 || shift.len() > 1) { self.nhwc(x, node)? } else { x };
        let channels = *self.draft.tensors[x].shape.last().unwrap_or(&1);
        for v in [&scale, &shift] {
            if v.len() != 1 && v.len() != channels {
                return Err(shape_err(
                    node,
                    format!("per-channel constant of length {} for {channels} channels", v.len()),
                ));
            }
        }
        let out = self.new_tensor(self.logical(x).to_vec(), self.layout(x), self.output_name(node)?, None)?;
        self.push(Step::Affine(Affine { input: x, output: out, channels, scale, shift, activation }));
        self.define(node, Value::Act(out))
    }

    /// A constant operand of an elementwise op as a per-channel vector for `x`, if it broadcasts that way.
    fn channel_vector(&self, node: &Node, x: TensorId, c: &Constant) -> Result<Vec<f32>> {
        let shape = self.logical(x);
        let v = c.to_f32();
        if v.len() == 1 && c.dims.len() <= shape.len() {
            return Ok(v);
        }
        // Channel axis: 1 for 4-D (NCHW), the last one otherwise.
        let axis = if shape.len() == 4 { 1 } else { shape.len() - 1 };
        let k = c.dims.len();
        let ok = k <= shape.len()
            && c.dims.iter().enumerate().all(|(i, &d)| {
                let ax = shape.len() - k + i;
                if ax == axis {
                    d == shape[axis]
                } else {
                    d == 1
                }
            });
        if !ok {
            return Err(Error::unsupported(
                &node.op,
                &node.name,
                format!("constant of shape {:?} does not broadcast per channel over {shape:?}", c.dims),
            ));
        }
        Ok(v)
    }

    fn lower_node(&mut self, node: &Node) -> Result<()> {
        if !(node.op == "Constant" || node.inputs.iter().all(|i| i.is_empty() || self.values.contains_key(i))) {
            return Err(Error::ModelFormat(format!("node '{}' reads an undefined value", node.name)));
        }
        if node.op == "Constant" {
            let c = constant_node(node)?;
            self.draft.folded_nodes += 1;
            return self.define(node, owned(c));
        }
        // Fold when every present input is constant (borrowed: weights are large).
        let refs: Vec<Option<&Constant>> = node
            .inputs
            .iter()
            .map(|i| match self.values.get(i) {
                Some(Value::Const(c)) => Some(&**c),
                _ => None,
            })
            .collect();
        if node.op != "Shape" && node.inputs.iter().zip(&refs).all(|(i, c)| i.is_empty() || c.is_some()) {
            if let Some(c) = consts::eval(node, &refs, self.graph.opset)? {
                self.draft.folded_nodes += 1;
                return self.define(node, owned(c));
            }
        }
        let op = node.op.as_str();
        match op {
            "Identity" | "Dropout" => {
                if node.outputs.get(1).is_some_and(|s| !s.is_empty()) {
                    return Err(Error::unsupported(op, &node.name, "mask output"));
                }
                let v = self.input(node, 0)?;
                self.draft.folded_nodes += 1;
                self.define(node, v)
            }
            "Shape" => {
                let dims: Vec<usize> = match self.input(node, 0)? {
                    Value::Act(t) => self.logical(t).to_vec(),
                    Value::Const(c) => c.dims.clone(),
                };
                let fake = Constant::f32(dims, Vec::new());
                let c = consts::eval(node, &[Some(&fake)], self.graph.opset)?
                    .ok_or_else(|| Error::unsupported(op, &node.name, "shape"))?;
                self.draft.folded_nodes += 1;
                self.define(node, owned(c))
            }
            "Cast" => {
                let to = node.int("to", 1)?;
                if !matches!(to, 1 | 10 | 11 | 16) {
                    return Err(Error::unsupported(op, &node.name, format!("cast of an activation to dtype {to}")));
                }
                let v = self.input(node, 0)?;
                self.draft.folded_nodes += 1;
                self.define(node, v)
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
                let x = self.act(node, 0)?;
                let shape = self.logical(x).to_vec();
                let new_shape = match op {
                    "Reshape" => {
                        let target = self.constant(node, 1)?.to_i64();
                        consts::reshape_dims(&shape, &target, node.int("allowzero", 0)? != 0, node)?
                    }
                    "Flatten" => {
                        let axis = norm_axis(node.int("axis", 1)?, shape.len() + 1, node)?;
                        vec![shape[..axis].iter().product(), shape[axis..].iter().product()]
                    }
                    _ => {
                        let axes = match node.ints("axes")? {
                            Some(a) => Some(a),
                            None => self.opt_constant(node, 1)?.map(|c| c.to_i64()),
                        };
                        consts::squeeze_dims(node, &shape, axes.as_deref())?
                    }
                };
                let out = self.view(x, new_shape, self.output_name(node)?)?;
                self.draft.folded_nodes += 1;
                self.define(node, Value::Act(out))
            }
            "Transpose" => self.lower_transpose(node),
            "Conv" => self.lower_conv(node),
            "BatchNormalization" => {
                if node.int("training_mode", 0)? != 0 || node.outputs.iter().skip(1).any(|s| !s.is_empty()) {
                    return Err(Error::unsupported(op, &node.name, "training mode"));
                }
                let x = self.act(node, 0)?;
                let eps = node.float("epsilon", 1e-5)?;
                let [gamma, beta, mean, var] = [1, 2, 3, 4].map(|i| self.weight(node, i).map(|c| c.to_f32()));
                let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
                let c = gamma.len();
                if beta.len() != c || mean.len() != c || var.len() != c {
                    return Err(shape_err(node, "BatchNormalization parameter lengths differ"));
                }
                let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
                let shift: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
                let x = if self.logical(x).len() == 4 { self.nhwc(x, node)? } else { x };
                self.affine(node, x, scale, shift, Activation::None)
            }
            "Relu" => {
                let x = self.act(node, 0)?;
                self.affine(node, x, vec![1.0], vec![0.0], Activation::Relu)
            }
            "Clip" => {
                let x = self.act(node, 0)?;
                let bound = |attr: &str, idx: usize, default: f32| -> Result<f32> {
                    if self.graph.opset < 11 {
                        return node.float(attr, default);
                    }
                    match self.opt_constant(node, idx)? {
                        Some(c) if c.len() == 1 => Ok(c.to_f32()[0]),
                        Some(_) => Err(Error::unsupported("Clip", &node.name, "non-scalar bound")),
                        None => Ok(default),
                    }
                };
                let (min, max) = (bound("min", 1, f32::NEG_INFINITY)?, bound("max", 2, f32::INFINITY)?);
                let activation =
                    if min == 0.0 && max == f32::INFINITY { Activation::Relu } else { Activation::Clip { min, max } };
                self.affine(node, x, vec![1.0], vec![0.0], activation)
            }
            "Add" | "Sub" | "Mul" | "Div" => self.lower_arith(node),
            "MatMul" | "Gemm" => self.lower_dense(node),
            "MaxPool" | "AveragePool" => self.lower_pool(node),
            "GlobalAveragePool" | "GlobalMaxPool" => {
                let x = self.act(node, 0)?;
                let x = self.nhwc(x, node)?;
                let s = self.logical(x).to_vec();
                let out = self.new_tensor(vec![s[0], s[1], 1, 1], Layout::Nhwc, self.output_name(node)?, None)?;
                self.push(if op == "GlobalAveragePool" {
                    Step::GlobalAvgPool { input: x, output: out }
                } else {
                    Step::Pool(Pool {
                        input: x,
                        output: out,
                        kind: PoolKind::Max,
                        kernel: [s[2], s[3]],
                        stride: [1, 1],
                        pad: [0; 4],
                        dilation: [1, 1],
                    })
                });
                self.define(node, Value::Act(out))
            }
            "Softmax" => {
                let x = self.act(node, 0)?;
                let shape = self.logical(x).to_vec();
                let default_axis = if self.graph.opset < 13 { 1 } else { -1 };
                let axis = norm_axis(node.int("axis", default_axis)?, shape.len(), node)?;
                let name = self.output_name(node)?.to_string();
                if self.graph.opset >= 13 && shape[axis + 1..].iter().any(|&d| d != 1) {
                    // Softmax runs over the innermost dimension: move the axis there and back.
                    let perm: Vec<usize> = (0..shape.len()).filter(|&d| d != axis).chain([axis]).collect();
                    let inverse: Vec<usize> =
                        (0..shape.len()).map(|d| perm.iter().position(|&p| p == d).unwrap_or(d)).collect();
                    let moved = self.permute(x, &perm, &(name.clone() + "/moved"))?;
                    let moved_shape = self.logical(moved).to_vec();
                    let soft = self.softmax_tail(moved, moved_shape.len() - 1, &(name.clone() + "/moved"))?;
                    let out = self.permute(soft, &inverse, &name)?;
                    return self.define(node, Value::Act(out));
                }
                // Older opsets (and trailing 1-dims) normalise over the flattened tail.
                let out = self.softmax_tail(x, axis, &name)?;
                self.define(node, Value::Act(out))
            }
            "Pad" => self.lower_pad(node),
            _ => Err(Error::unsupported(op, &node.name, "operator not supported")),
        }
    }

    /// Softmax over the flattened dims `axis..` of `x`, as a plain tensor of `x`'s shape.
    fn softmax_tail(&mut self, x: TensorId, axis: usize, name: &str) -> Result<TensorId> {
        let shape = self.logical(x).to_vec();
        let rows: usize = shape[..axis].iter().product();
        let flat = self.view(x, vec![rows, shape[axis..].iter().product()], &format!("{name}/2d"))?;
        let out = self.new_tensor(self.logical(flat).to_vec(), Layout::Plain, &format!("{name}/2d"), None)?;
        self.push(Step::Softmax { input: flat, output: out });
        self.view(out, shape, name)
    }

    /// A physical transpose of `x` (in plain layout) by `perm`.
    fn permute(&mut self, x: TensorId, perm: &[usize], name: &str) -> Result<TensorId> {
        let src = self.plain(x)?;
        let shape = self.logical(src).to_vec();
        let out = self.new_tensor(perm.iter().map(|&p| shape[p]).collect(), Layout::Plain, name, None)?;
        self.push(Step::Permute { input: src, output: out, in_shape: shape, perm: perm.to_vec() });
        Ok(out)
    }

    fn lower_transpose(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let shape = self.logical(x).to_vec();
        let perm = consts::transpose_perm(node, shape.len())?;
        let name = self.output_name(node)?.to_string();
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let out = match (self.layout(x), perm.as_slice()) {
            // Plain NHWC data transposed to logical NCHW is exactly our NHWC layout: free.
            (Layout::Plain, [0, 3, 1, 2]) => self.new_tensor(out_shape, Layout::Nhwc, &name, Some(x))?,
            // And back again.
            (Layout::Nhwc, [0, 2, 3, 1]) => self.new_tensor(out_shape, Layout::Plain, &name, Some(x))?,
            _ => self.permute(x, &perm, &name)?,
        };
        self.draft.folded_nodes += usize::from(self.draft.view_of[out].is_some());
        self.define(node, Value::Act(out))
    }

    fn lower_conv(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let w = self.weight(node, 1)?;
        let x = self.nhwc(x, node)?;
        let s = self.logical(x).to_vec();
        if w.dims.len() != 4 {
            return Err(Error::unsupported(
                "Conv",
                &node.name,
                format!("weight of rank {} (only 2-D convolution)", w.dims.len()),
            ));
        }
        let groups = usize::try_from(node.int("group", 1)?)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| shape_err(node, "group < 1"))?;
        let (cout, cin_g, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
        if cin_g * groups != s[1] || cout % groups != 0 || kh == 0 || kw == 0 {
            return Err(shape_err(node, format!("weight {:?} with group {groups} does not fit input {s:?}", w.dims)));
        }
        if let Some(k) = node.ints("kernel_shape")? {
            if k != [kh as i64, kw as i64] {
                return Err(shape_err(node, format!("kernel_shape {k:?} differs from weight {:?}", w.dims)));
            }
        }
        let win = window(node, [s[2], s[3]], [kh, kw], false)?;
        let bias = match self.opt_weight(node, 2)? {
            Some(b) if b.len() == cout => b.to_f32(),
            Some(_) => return Err(shape_err(node, "bias length differs from output channels")),
            None => vec![0.0; cout],
        };
        // OIHW -> OHWI: each filter's `[cin_g][kh * kw]` transposed in place
        // (no new memory for the weights); a 1x1 kernel's is already in order.
        let taps = kh * kw;
        let mut weight = self.weight_values(node, 1, w);
        if taps > 1 {
            let mut filter = vec![0.0; cin_g * taps];
            for dst in weight.chunks_exact_mut(cin_g * taps) {
                filter.copy_from_slice(dst);
                transpose_into(&filter, cin_g, taps, dst, cin_g);
            }
        }
        let out =
            self.new_tensor(vec![s[0], cout, win.out[0], win.out[1]], Layout::Nhwc, self.output_name(node)?, None)?;
        self.push(Step::Conv(Conv {
            input: x,
            output: out,
            residual: None,
            in_channels: s[1],
            out_channels: cout,
            kernel: win.kernel,
            stride: win.stride,
            pad: win.pad,
            dilation: win.dilation,
            groups,
            weight,
            bias,
            activation: Activation::None,
        }));
        self.define(node, Value::Act(out))
    }

    fn lower_pool(&mut self, node: &Node) -> Result<()> {
        if node.outputs.get(1).is_some_and(|s| !s.is_empty()) {
            return Err(Error::unsupported(&node.op, &node.name, "indices output"));
        }
        let x = self.act(node, 0)?;
        let x = self.nhwc(x, node)?;
        let s = self.logical(x).to_vec();
        let kernel = pair(node, "kernel_shape", 0)?;
        let win = window(node, [s[2], s[3]], kernel, node.int("ceil_mode", 0)? != 0)?;
        let kind = if node.op == "MaxPool" {
            PoolKind::Max
        } else {
            PoolKind::Avg { count_include_pad: node.int("count_include_pad", 0)? != 0 }
        };
        let out =
            self.new_tensor(vec![s[0], s[1], win.out[0], win.out[1]], Layout::Nhwc, self.output_name(node)?, None)?;
        self.push(Step::Pool(Pool {
            input: x,
            output: out,
            kind,
            kernel: win.kernel,
            stride: win.stride,
            pad: win.pad,
            dilation: win.dilation,
        }));
        self.define(node, Value::Act(out))
    }

    fn lower_arith(&mut self, node: &Node) -> Result<()> {
        let op = node.op.as_str();
        match (self.input(node, 0)?, self.input(node, 1)?) {
            (Value::Act(a), Value::Act(b)) => {
                if op != "Add" {
                    return Err(Error::unsupported(
                        op,
                        &node.name,
                        "both operands are activations (only Add supported)",
                    ));
                }
                if self.logical(a) != self.logical(b) {
                    return Err(shape_err(
                        node,
                        format!(
                            "operand shapes {:?} and {:?} differ (no broadcasting between activations)",
                            self.logical(a),
                            self.logical(b)
                        ),
                    ));
                }
                let (a, b) =
                    if self.layout(a) == self.layout(b) { (a, b) } else { (self.nhwc(a, node)?, self.nhwc(b, node)?) };
                let out = self.new_tensor(self.logical(a).to_vec(), self.layout(a), self.output_name(node)?, None)?;
                self.push(Step::Add { a, b, output: out, activation: Activation::None });
                self.define(node, Value::Act(out))
            }
            (Value::Act(x), Value::Const(c)) => {
                let v = self.channel_vector(node, x, &c)?;
                let (scale, shift) = match op {
                    "Add" => (vec![1.0], v),
                    "Sub" => (vec![1.0], v.iter().map(|x| -x).collect()),
                    "Mul" => (v, vec![0.0]),
                    _ => (v.iter().map(|x| 1.0 / x).collect(), vec![0.0]),
                };
                self.affine(node, x, scale, shift, Activation::None)
            }
            (Value::Const(c), Value::Act(x)) => {
                let v = self.channel_vector(node, x, &c)?;
                let (scale, shift) = match op {
                    "Add" => (vec![1.0], v),
                    "Sub" => (vec![-1.0], v),
                    "Mul" => (v, vec![0.0]),
                    _ => return Err(Error::unsupported(op, &node.name, "constant divided by an activation")),
                };
                self.affine(node, x, scale, shift, Activation::None)
            }
            (Value::Const(_), Value::Const(_)) => {
                Err(Error::unsupported(op, &node.name, "constant operands were not folded"))
            }
        }
    }

    fn lower_dense(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let b = self.weight(node, 1)?;
        let x = self.plain(x)?;
        let shape = self.logical(x).to_vec();
        let gemm = node.op == "Gemm";
        if gemm && (shape.len() != 2 || node.int("transA", 0)? != 0) {
            return Err(Error::unsupported("Gemm", &node.name, "A must be a 2-D activation without transA"));
        }
        if b.dims.len() != 2 || shape.is_empty() {
            return Err(Error::unsupported(
                &node.op,
                &node.name,
                format!("weight of shape {:?} (only 2-D constants)", b.dims),
            ));
        }
        let trans_b = gemm && node.int("transB", 0)? != 0;
        let (k, m) = if trans_b { (b.dims[1], b.dims[0]) } else { (b.dims[0], b.dims[1]) };
        if shape[shape.len() - 1] != k {
            return Err(shape_err(node, format!("input {shape:?} does not match weight {:?}", b.dims)));
        }
        let alpha = if gemm { node.float("alpha", 1.0)? } else { 1.0 };
        let beta = if gemm { node.float("beta", 1.0)? } else { 1.0 };
        // `[out][in]`: what transB stores, else the transpose of B.
        let values = self.weight_values(node, 1, b);
        let mut weight = if trans_b { values } else { transpose(&values, k, m) };
        // x * 1 == x: the usual alpha needs no pass.
        if alpha != 1.0 {
            weight.iter_mut().for_each(|w| *w *= alpha);
        }
        let bias = match if gemm { self.opt_weight(node, 2)? } else { None } {
            None => vec![0.0; m],
            Some(c) if c.len() == 1 => vec![beta * c.to_f32()[0]; m],
            Some(c) if c.len() == m && c.dims.iter().rev().skip(1).all(|&d| d == 1) => {
                c.to_f32().iter().map(|v| beta * v).collect()
            }
            Some(c) => return Err(Error::unsupported("Gemm", &node.name, format!("bias of shape {:?}", c.dims))),
        };
        let mut out_shape = shape.clone();
        *out_shape.last_mut().unwrap_or(&mut 0) = m;
        let out = self.new_tensor(out_shape, Layout::Plain, self.output_name(node)?, None)?;
        self.push(Step::Dense(Dense {
            input: x,
            output: out,
            in_features: k,
            out_features: m,
            weight,
            bias,
            activation: Activation::None,
        }));
        self.define(node, Value::Act(out))
    }

    fn lower_pad(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let mode = node.string("mode")?.unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Err(Error::unsupported("Pad", &node.name, format!("mode {mode}")));
        }
        let (pads, value) = if self.graph.opset < 11 {
            (node.ints("pads")?.unwrap_or_default(), node.float("value", 0.0)?)
        } else {
            if node.input(3).is_some() {
                return Err(Error::unsupported("Pad", &node.name, "axes input"));
            }
            let v = self.opt_constant(node, 2)?.map(|c| c.to_f32()).unwrap_or_default();
            (self.constant(node, 1)?.to_i64(), v.first().copied().unwrap_or(0.0))
        };
        let shape = self.logical(x).to_vec();
        let r = shape.len();
        if pads.len() != 2 * r || pads.iter().any(|&p| !(0..=1 << 16).contains(&p)) {
            return Err(Error::unsupported(
                "Pad",
                &node.name,
                format!("pads {pads:?} (need {} non-negative values)", 2 * r),
            ));
        }
        let logical_pads: Vec<(usize, usize)> = (0..r).map(|i| (pads[i] as usize, pads[i + r] as usize)).collect();
        let out_shape: Vec<usize> = shape.iter().zip(&logical_pads).map(|(d, (a, b))| d + a + b).collect();
        let (src, phys_pads) = if r == 4 {
            let src = self.nhwc(x, node)?;
            let p = &logical_pads;
            (src, vec![p[0], p[2], p[3], p[1]])
        } else {
            (self.plain(x)?, logical_pads)
        };
        let out = self.new_tensor(out_shape, self.layout(src), self.output_name(node)?, None)?;
        self.push(Step::Pad { input: src, output: out, pads: phys_pads, value });
        self.define(node, Value::Act(out))
    }
}

fn constant_node(node: &Node) -> Result<Constant> {
    if let Some(t) = node.tensor("value")? {
        return Ok(t);
    }
    if let Ok(v) = node.float("value_float", f32::NAN) {
        if !v.is_nan() {
            return Ok(Constant::f32(vec![], vec![v]));
        }
    }
    if let Some(crate::model::AttrValue::Floats(v)) = node.attr("value_floats") {
        return Ok(Constant::f32(vec![v.len()], v.clone()));
    }
    if let Some(crate::model::AttrValue::Int(v)) = node.attr("value_int") {
        return Ok(Constant::i64(vec![], vec![*v]));
    }
    if let Some(v) = node.ints("value_ints")? {
        return Ok(Constant::i64(vec![v.len()], v));
    }
    Err(Error::unsupported("Constant", &node.name, "no supported value attribute"))
}

/// Orders nodes so each runs after the producers of its inputs; detects cycles,
/// duplicate outputs and reads of undefined values.
fn topo_order<'g>(graph: &'g Graph, known: &HashMap<String, Value<'g>>) -> Result<Vec<&'g Node>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if known.contains_key(o.as_str()) || producer.insert(o, i).is_some() {
                return Err(Error::ModelFormat(format!("value '{o}' is defined more than once")));
            }
        }
    }
    let mut pending = vec![0usize; graph.nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            match producer.get(inp.as_str()) {
                Some(&p) => {
                    pending[i] += 1;
                    users[p].push(i);
                }
                None if known.contains_key(inp) => {}
                None => {
                    return Err(Error::ModelFormat(format!(
                        "node '{}' reads '{inp}', which no node, input or initializer defines",
                        n.name
                    )))
                }
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.nodes.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.nodes[i]);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != graph.nodes.len() {
        let stuck =
            graph.nodes.iter().zip(&pending).find(|(_, &p)| p > 0).map(|(n, _)| n.name.clone()).unwrap_or_default();
        return Err(Error::ModelFormat(format!("the graph has a cycle (at node '{stuck}')")));
    }
    Ok(order)
}

/// Resolves the input shape: the caller's, or the declared one with symbolic dims = 1.
fn input_shape(graph: &Graph, requested: Option<&[usize]>) -> Result<(String, Vec<usize>)> {
    let input = match graph.inputs.as_slice() {
        [one] => one,
        [] => return Err(Error::ModelFormat("the model has no input".into())),
        many => {
            return Err(Error::unsupported(
                "Graph",
                "inputs",
                format!("{} inputs; one image input is supported", many.len()),
            ))
        }
    };
    let declared: Option<Vec<Option<usize>>> = input.dims.as_ref().map(|d| {
        d.iter()
            .map(|d| match d {
                Dim::Fixed(v) if *v > 0 => Some(*v),
                _ => None,
            })
            .collect()
    });
    let shape = match (requested, declared) {
        (Some(r), Some(d)) if r.len() != d.len() => {
            return Err(Error::Shape(format!("input '{}' has rank {}, got shape {r:?}", input.name, d.len())));
        }
        (Some(r), _) => r.to_vec(),
        (None, Some(d)) => d.iter().map(|v| v.unwrap_or(1)).collect(),
        (None, None) => return Err(Error::Shape(format!("input '{}' declares no shape; give one", input.name))),
    };
    if shape.contains(&0) {
        return Err(Error::Shape(format!("input shape {shape:?} has a zero dimension")));
    }
    Ok((input.name.clone(), shape))
}

/// Lowers `graph`, whose initializers are `taken` if given (they were moved
/// out of it), else borrowed from it.
pub(super) fn lower(
    graph: &Graph,
    taken: Option<HashMap<String, Constant>>,
    requested_input: Option<&[usize]>,
) -> Result<Draft> {
    let (input_name, shape) = input_shape(graph, requested_input)?;
    let mut readers = HashMap::new();
    for name in graph.nodes.iter().flat_map(|n| &n.inputs).chain(graph.outputs.iter().map(|o| &o.name)) {
        *readers.entry(name.as_str()).or_insert(0) += 1;
    }
    let mut lw = Lowerer {
        graph,
        values: HashMap::new(),
        readers,
        draft: Draft {
            tensors: Vec::new(),
            logical: Vec::new(),
            view_of: Vec::new(),
            steps: Vec::new(),
            input: 0,
            input_name: input_name.clone(),
            output: 0,
            output_name: String::new(),
            folded_nodes: 0,
        },
        to_nhwc: HashMap::new(),
        to_plain: HashMap::new(),
    };
    let input = lw.new_tensor(shape, Layout::Plain, &input_name, None)?;
    lw.draft.input = input;
    match taken {
        Some(initializers) => lw.values.extend(initializers.into_iter().map(|(name, c)| (name, owned(c)))),
        None => lw.values.extend(graph.initializers.iter().map(|(n, c)| (n.clone(), Value::Const(Const::Borrowed(c))))),
    }
    lw.values.insert(input_name, Value::Act(input));
    for node in topo_order(graph, &lw.values)? {
        lw.lower_node(node)?;
    }
    let out_info = graph.outputs.first().ok_or_else(|| Error::ModelFormat("the model has no output".into()))?;
    let out = match lw.values.get(&out_info.name) {
        Some(Value::Act(t)) => *t,
        Some(Value::Const(_)) => return Err(Error::ModelFormat(format!("output '{}' is a constant", out_info.name))),
        None => return Err(Error::ModelFormat(format!("output '{}' is never computed", out_info.name))),
    };
    let out = lw.plain(out)?;
    lw.draft.output = out;
    lw.draft.output_name = out_info.name.clone();
    Ok(lw.draft)
}
