//! ONNX-style graph -> unfused steps over activation tensors.
//!
//! Walks nodes in dependency order. Nodes whose inputs are all constant are
//! folded (`consts`); the rest become one [`Step`] each, or a free view.
//! Each activation keeps its logical (ONNX) shape and a physical layout;
//! conversions between NHWC and plain are inserted only where an op needs them.

mod conv;
mod dense;
mod elementwise;
mod graph;
mod operands;
mod quant;
mod shape;
mod tensors;
mod window;

use super::consts;
use super::{ActQuant, Layout, Step, TensorId, TensorInfo};
use crate::error::{Error, Result};
use crate::model::{Constant, Graph, Node};
use graph::{input_shape, topo_order};
use operands::constant_node;
use std::collections::HashMap;
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
    /// Tensors on a quantization grid (a quantize step's output, or a view
    /// or relayout of one).
    pub grids: HashMap<TensorId, ActQuant>,
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

impl<'g> Lowerer<'g> {
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
        match node.op.as_str() {
            "Identity" | "Dropout" => self.lower_identity(node),
            "Cast" => self.lower_cast(node),
            "Shape" => self.lower_shape_of(node),
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => self.lower_reshape(node),
            "Transpose" => self.lower_transpose(node),
            "Conv" => self.lower_conv(node),
            "BatchNormalization" => self.lower_batch_norm(node),
            "Relu" => self.lower_relu(node),
            "Clip" => self.lower_clip(node),
            "Add" | "Sub" | "Mul" | "Div" => self.lower_arith(node),
            "MatMul" | "Gemm" => self.lower_dense(node),
            "MaxPool" | "AveragePool" => self.lower_pool(node),
            "GlobalAveragePool" | "GlobalMaxPool" => self.lower_global_pool(node),
            "Softmax" => self.lower_softmax(node),
            "Pad" => self.lower_pad(node),
            crate::model::onnx::QDQ_OP => self.lower_quantize(node),
            "QuantizeLinear" | "DequantizeLinear" => Err(Error::unsupported(
                &node.op,
                &node.name,
                "only as a QuantizeLinear -> DequantizeLinear pair on an activation, or DequantizeLinear of an initializer",
            )),
            op => Err(Error::unsupported(op, &node.name, "operator not supported")),
        }
    }
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
            grids: HashMap::new(),
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
