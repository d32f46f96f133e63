//! Portable CPU backend (stub: being written). The numerical reference for every other backend.
use crate::error::{Error, Result};
use crate::plan::Plan;

pub struct CpuBackend {}

impl CpuBackend {
    /// Packs the plan's weights once; allocates the activation arena.
    pub fn new(_plan: &Plan) -> Result<Self> {
        Err(Error::Backend("CPU backend not implemented yet".into()))
    }

    /// `input`: `plan.input_len()` f32 in the model's declared input layout.
    /// Returns `plan.output_len()` f32 (logits, or probabilities if the model ends in Softmax).
    pub fn run(&mut self, _input: &[f32]) -> Result<Vec<f32>> {
        Err(Error::Backend("CPU backend not implemented yet".into()))
    }
}
