//! The feature-extractor view of a plan: the same steps up to the global
//! pooling before the classifier head, with that pooling's output as the
//! plan's output (an image embedding).

use super::{Layout, Plan, PlanOutput, Step};
use crate::error::{Error, Result};

impl Plan {
    /// This plan cut after its last global pooling (a step that pools the
    /// whole spatial extent down to 1x1), outputting `[n, channels]`.
    /// Truncating keeps the arena offsets valid: removing later steps only
    /// shortens lifetimes.
    pub fn features(&self) -> Result<Plan> {
        let pooled_whole = |s: &Step| match s {
            Step::GlobalAvgPool { output, .. } | Step::Pool(super::Pool { output, .. }) => {
                let t = &self.tensors[*output];
                (t.layout == Layout::Nhwc && t.shape[1] == 1 && t.shape[2] == 1).then_some(*output)
            }
            _ => None,
        };
        let (last, output) = self
            .steps
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, s)| pooled_whole(s).map(|t| (i, t)))
            .ok_or_else(|| Error::Shape("the model has no global pooling to take features from".into()))?;
        let t = &self.tensors[output];
        Ok(Plan {
            output: PlanOutput {
                name: t.name.clone(),
                tensor: output,
                shape: vec![t.shape[0], t.shape[3]],
                is_probability: false,
            },
            input: self.input.clone(),
            tensors: self.tensors.clone(),
            steps: self.steps[..=last].to_vec(),
            arena_len: self.arena_len,
            fused_nodes: self.fused_nodes,
            preprocess: self.preprocess.clone(),
            labels: None,
        })
    }
}
