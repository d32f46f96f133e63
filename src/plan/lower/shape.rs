//! Ops that move or relabel data: views (Reshape, Flatten, Squeeze,
//! Unsqueeze, Identity, Cast), Shape, Transpose and Pad.

use super::consts::{self, norm_axis};
use super::{owned, Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::{Constant, Node};
use crate::plan::{Layout, Step};

impl Lowerer<'_> {
    /// Identity and Dropout (inference): the input, renamed.
    pub(super) fn lower_identity(&mut self, node: &Node) -> Result<()> {
        let op = node.op.as_str();
        if node.outputs.get(1).is_some_and(|s| !s.is_empty()) {
            return Err(Error::unsupported(op, &node.name, "mask output"));
        }
        let v = self.input(node, 0)?;
        self.draft.folded_nodes += 1;
        self.define(node, v)
    }

    /// Cast of an activation, which is f32 whatever the model says.
    pub(super) fn lower_cast(&mut self, node: &Node) -> Result<()> {
        let to = node.int("to", 1)?;
        if !matches!(to, 1 | 10 | 11 | 16) {
            return Err(Error::unsupported("Cast", &node.name, format!("cast of an activation to dtype {to}")));
        }
        let v = self.input(node, 0)?;
        self.draft.folded_nodes += 1;
        self.define(node, v)
    }

    /// Shape, folded: activation shapes are static.
    pub(super) fn lower_shape_of(&mut self, node: &Node) -> Result<()> {
        let dims: Vec<usize> = match self.input(node, 0)? {
            Value::Act(t) => self.logical(t).to_vec(),
            Value::Const(c) => c.dims.clone(),
        };
        let fake = Constant::f32(dims, Vec::new());
        let c = consts::eval(node, &[Some(&fake)], self.graph.opset)?
            .ok_or_else(|| Error::unsupported("Shape", &node.name, "shape"))?;
        self.draft.folded_nodes += 1;
        self.define(node, owned(c))
    }

    /// Reshape, Flatten, Squeeze and Unsqueeze: a view with a new shape.
    pub(super) fn lower_reshape(&mut self, node: &Node) -> Result<()> {
        let op = node.op.as_str();
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

    pub(super) fn lower_transpose(&mut self, node: &Node) -> Result<()> {
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

    pub(super) fn lower_pad(&mut self, node: &Node) -> Result<()> {
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
