//! A node's operands as the lowering sees them (activations, constants,
//! weights) and the value it defines.

use std::rc::Rc;

use super::{Const, Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::{Constant, Node, TensorData};
use crate::plan::TensorId;

impl<'g> Lowerer<'g> {
    pub(super) fn input(&self, node: &Node, i: usize) -> Result<Value<'g>> {
        let name =
            node.input(i).ok_or_else(|| Error::unsupported(&node.op, &node.name, format!("missing input {i}")))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| Error::ModelFormat(format!("node '{}' reads undefined value '{name}'", node.name)))
    }

    pub(super) fn act(&self, node: &Node, i: usize) -> Result<TensorId> {
        match self.input(node, i)? {
            Value::Act(t) => Ok(t),
            Value::Const(_) => {
                Err(Error::unsupported(&node.op, &node.name, format!("input {i} must not be constant here")))
            }
        }
    }

    pub(super) fn constant(&self, node: &Node, i: usize) -> Result<Const<'g>> {
        match self.input(node, i)? {
            Value::Const(c) => Ok(c),
            Value::Act(_) => {
                Err(Error::unsupported(&node.op, &node.name, format!("input {i} must be a constant (initializer)")))
            }
        }
    }

    pub(super) fn opt_constant(&self, node: &Node, i: usize) -> Result<Option<Const<'g>>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        self.constant(node, i).map(Some)
    }

    /// A constant that holds learned values: integers there are a wrong
    /// dtype (a broken export), not numbers to convert silently.
    pub(super) fn weight(&self, node: &Node, i: usize) -> Result<Const<'g>> {
        let c = self.constant(node, i)?;
        match c.data {
            TensorData::F32(_) => Ok(c),
            TensorData::I64(_) => Err(Error::ModelFormat(format!(
                "node '{}' ({}): input {i} has an integer dtype where float weights belong",
                node.name, node.op
            ))),
        }
    }

    pub(super) fn opt_weight(&self, node: &Node, i: usize) -> Result<Option<Const<'g>>> {
        if node.input(i).is_none() {
            return Ok(None);
        }
        self.weight(node, i).map(Some)
    }

    /// The values of weight `w`, input `i` of `node`: taken if the lowering
    /// owns them and nothing else reads them, else copied.
    pub(super) fn weight_values(&mut self, node: &Node, i: usize, w: Const<'g>) -> Vec<f32> {
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

    pub(super) fn output_name<'n>(&self, node: &'n Node) -> Result<&'n str> {
        node.outputs
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::ModelFormat(format!("node '{}' has no output", node.name)))
    }

    pub(super) fn define(&mut self, node: &Node, v: Value<'g>) -> Result<()> {
        let name = self.output_name(node)?.to_string();
        self.values.insert(name, v);
        Ok(())
    }

    /// A constant operand of an elementwise op as a per-channel vector for `x`, if it broadcasts that way.
    pub(super) fn channel_vector(&self, node: &Node, x: TensorId, c: &Constant) -> Result<Vec<f32>> {
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
}

/// The value of a `Constant` node.
pub(super) fn constant_node(node: &Node) -> Result<Constant> {
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
