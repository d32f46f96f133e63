//! MatMul and Gemm against a constant weight: a dense layer.

use super::{shape_err, Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::Node;
use crate::plan::{Activation, Dense, Layout, Step};
use crate::transpose::transpose;

impl Lowerer<'_> {
    pub(super) fn lower_dense(&mut self, node: &Node) -> Result<()> {
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
        let int8 = node.input(1).is_some_and(|n| self.graph.int8_weights.contains(n));
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
        // alpha and beta rescale what the model's codes stand for.
        let plain = alpha == 1.0 && (beta == 1.0 || node.input(2).is_none());
        let requant = if int8 && plain { self.requant(node, x, (1, 2), &bias) } else { None };
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
            int8,
            input_quant: self.draft.grids.get(&x).copied(),
            requant,
        }));
        self.define(node, Value::Act(out))
    }
}
