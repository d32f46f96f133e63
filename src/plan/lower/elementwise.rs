//! Per-channel and elementwise ops: BatchNormalization, activations, the
//! four arithmetic ops, and Softmax.

use super::consts::norm_axis;
use super::{shape_err, Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::Node;
use crate::plan::{Activation, Affine, Layout, Step, TensorId};

impl Lowerer<'_> {
    /// Emits `act(x * scale + shift)` per channel; NHWC for 4-D inputs.
    pub(super) fn affine(
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

    /// Inference-mode BatchNormalization as a per-channel affine.
    pub(super) fn lower_batch_norm(&mut self, node: &Node) -> Result<()> {
        if node.int("training_mode", 0)? != 0 || node.outputs.iter().skip(1).any(|s| !s.is_empty()) {
            return Err(Error::unsupported("BatchNormalization", &node.name, "training mode"));
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

    /// Relu, as an activation-only affine.
    pub(super) fn lower_relu(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        self.affine(node, x, vec![1.0], vec![0.0], Activation::Relu)
    }

    /// Clip, as ReLU where its bounds are ReLU's.
    pub(super) fn lower_clip(&mut self, node: &Node) -> Result<()> {
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

    pub(super) fn lower_arith(&mut self, node: &Node) -> Result<()> {
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

    /// Softmax along one axis (opset 13), or over the flattened tail (older opsets).
    pub(super) fn lower_softmax(&mut self, node: &Node) -> Result<()> {
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

    /// Softmax over the flattened dims `axis..` of `x`, as a plain tensor of `x`'s shape.
    pub(super) fn softmax_tail(&mut self, x: TensorId, axis: usize, name: &str) -> Result<TensorId> {
        let shape = self.logical(x).to_vec();
        let rows: usize = shape[..axis].iter().product();
        let flat = self.view(x, vec![rows, shape[axis..].iter().product()], &format!("{name}/2d"))?;
        let out = self.new_tensor(self.logical(flat).to_vec(), Layout::Plain, &format!("{name}/2d"), None)?;
        self.push(Step::Softmax { input: flat, output: out });
        self.view(out, shape, name)
    }
}
