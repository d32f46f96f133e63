//! A QuantizeLinear → DequantizeLinear pair (the importer's
//! [`QDQ_OP`] node): a quantize step, whose grid the int8 kernels of the
//! convs and dense layers reading it then code their input on; and those
//! layers' own integer parameters ([`Requant`]).

use super::{Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::onnx::QDQ_OP;
use crate::model::Node;
use crate::plan::{Quantize, Requant, Step, TensorId};

impl Lowerer<'_> {
    pub(super) fn lower_quantize(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let scale = node.float("scale", f32::NAN)?;
        let int = |name: &str| -> Result<i32> {
            i32::try_from(node.int(name, i64::MIN)?)
                .map_err(|_| Error::ModelFormat(format!("node '{}' ({QDQ_OP}): no valid '{name}'", node.name)))
        };
        let (zero, lo, hi) = (int("zero_point")?, int("qmin")?, int("qmax")?);
        let grid = scale.is_finite() && scale > 0.0 && (lo..=hi).contains(&zero);
        if !(grid && [(0, 255), (-128, 127)].contains(&(lo, hi))) {
            return Err(Error::ModelFormat(format!(
                "node '{}' ({QDQ_OP}): scale {scale}, zero point {zero} in {lo}..={hi} is not a u8 or i8 grid",
                node.name
            )));
        }
        let out = self.new_tensor(self.logical(x).to_vec(), self.layout(x), self.output_name(node)?, None)?;
        let q = Quantize { input: x, output: out, scale, zero, lo, hi, of: None };
        if let Some(grid) = q.grid() {
            self.draft.grids.insert(out, grid);
        }
        self.push(Step::Quantize(q));
        self.define(node, Value::Act(out))
    }

    /// `to` holds `from`'s values, in another layout or shape.
    pub(super) fn same_grid(&mut self, from: TensorId, to: TensorId) {
        if let Some(&g) = self.draft.grids.get(&from) {
            self.draft.grids.insert(to, g);
        }
    }

    /// The model's integer parameters of an int8 layer reading `x` with
    /// weight input `w` (`n` outputs) and f32 bias `bias` (from input `b`,
    /// if any): when `x` is on a fixed grid, the importer kept the weight
    /// scales and bias codes, and the codes are that bias (a model whose bias
    /// scale is not input × weight scale gets the float arithmetic).
    pub(super) fn requant(&self, node: &Node, x: TensorId, (w, b): (usize, usize), bias: &[f32]) -> Option<Requant> {
        let n = bias.len();
        let sx = self.draft.grids.get(&x)?.scale;
        let weight_scale = match self.graph.weight_scales.get(node.input(w)?)?.as_slice() {
            [s] => vec![*s; n],
            s if s.len() == n => s.to_vec(),
            _ => return None,
        };
        let codes = match node.input(b) {
            None => vec![0; n],
            Some(name) => self.graph.bias_codes.get(name).filter(|c| c.len() == n)?.clone(),
        };
        // Relative to the bias, well above f32 rounding of code × scale.
        const TOLERANCE: f64 = 1e-5;
        let consistent = codes.iter().zip(&weight_scale).zip(bias).all(|((&c, &s), &v)| {
            let want = f64::from(c) * f64::from(sx) * f64::from(s);
            (want - f64::from(v)).abs() <= TOLERANCE * want.abs().max(f64::from(v).abs())
        });
        consistent.then_some(Requant { weight_scale, bias: codes, output: None })
    }
}
