//! A QuantizeLinear → DequantizeLinear pair (the importer's
//! [`QDQ_OP`] node): a quantize step, whose grid the int8 kernels of the
//! convs and dense layers reading it then code their input on.

use super::{Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::onnx::QDQ_OP;
use crate::model::Node;
use crate::plan::{Quantize, Step, TensorId};

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
        let q = Quantize { input: x, output: out, scale, zero, lo, hi };
        if let Some(grid) = q.grid() {
            self.grids.insert(out, grid);
        }
        self.push(Step::Quantize(q));
        self.define(node, Value::Act(out))
    }

    /// `to` holds `from`'s values, in another layout or shape.
    pub(super) fn same_grid(&mut self, from: TensorId, to: TensorId) {
        if let Some(&g) = self.grids.get(&from) {
            self.grids.insert(to, g);
        }
    }
}
