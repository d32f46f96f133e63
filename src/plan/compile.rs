//! Graph -> Plan (stub: being written).
use super::Plan;
use crate::error::{Error, Result};
use crate::model::Graph;

/// Options for [`compile`].
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Full input shape in the model's declared layout (e.g. `[n,3,h,w]`).
    /// `None` uses the declared shape with symbolic dims set to 1.
    pub input_shape: Option<Vec<usize>>,
}

pub fn compile(_graph: &Graph, _opts: &CompileOptions) -> Result<Plan> {
    Err(Error::Backend("planner not implemented yet".into()))
}
