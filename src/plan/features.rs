//! The feature-extractor view of a plan: its steps up to the global pooling
//! before the classifier head, whose output is an image embedding. A backend
//! built for the plan runs just that prefix ([`crate::cpu::CpuBackend::run_features`]),
//! so embedding needs no second backend and no copy of the weights.

use super::{Layout, Plan, PlanOutput, Step, TensorId};
use crate::error::{Error, Result};

/// Where a plan's features are: after its first `steps` steps, in `output`.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub steps: usize,
    /// The pooled tensor, read as `[n, channels]`.
    pub output: PlanOutput,
}

impl Plan {
    /// The cut after this plan's last global pooling (a step that pools the
    /// whole spatial extent down to 1x1). The arena offsets stay valid for
    /// the prefix: later steps are the only ones that could overwrite it.
    pub fn features(&self) -> Result<Features> {
        let (last, output) = self
            .last_global_pool()
            .ok_or_else(|| Error::Shape("the model has no global pooling to take features from".into()))?;
        let t = &self.tensors[output];
        Ok(Features {
            steps: last + 1,
            output: PlanOutput {
                name: t.name.clone(),
                tensor: output,
                shape: vec![t.shape[0], t.shape[3]],
                is_probability: false,
            },
        })
    }

    /// The index of the last step that pools the whole spatial extent down to
    /// 1x1, and its output.
    pub(super) fn last_global_pool(&self) -> Option<(usize, TensorId)> {
        let pooled_whole = |s: &Step| match s {
            Step::GlobalAvgPool { output, .. } | Step::Pool(super::Pool { output, .. }) => {
                let t = &self.tensors[*output];
                (t.layout == Layout::Nhwc && t.shape[1] == 1 && t.shape[2] == 1).then_some(*output)
            }
            _ => None,
        };
        self.steps.iter().enumerate().rev().find_map(|(i, s)| pooled_whole(s).map(|t| (i, t)))
    }
}
