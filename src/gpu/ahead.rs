//! A plan's pipelines compiled before its weights are in. A plan of the
//! graph a model file's header describes (zeros for the weights: see
//! [`crate::model::incoming::Incoming::shapes`]) has the real plan's steps
//! and shapes, so lowering it names every kernel the real one will use. The
//! device is opened and those pipelines created while the weights download;
//! the backend built from the real plan ([`super::GpuBackend::from_prepared`])
//! finds them in its cache, and is left with buffers and bind groups.
//!
//! In a browser, creating a pipeline returns at once and the GPU process
//! compiles it; [`Prepared::new`] resolves when it has. Chromium's GPU
//! process compiles one pipeline at a time, even those asked for together
//! with `createComputePipelineAsync` (checked on SwiftShader), so the gain
//! is the overlap with the download, not compiles side by side.

use super::context::{Context, Wanted};
use super::pipelines::Pipelines;
use super::{check_plan, lower_for, open, Occupancy};
use crate::error::Result;
use crate::plan::Plan;

/// A device with the pipelines of a plan's shapes; see the module docs.
pub struct Prepared {
    pub(super) ctx: Context,
    pub(super) pipelines: Pipelines,
    /// The input shape of the plan the pipelines are for.
    input_shape: Vec<usize>,
}

impl Prepared {
    /// Opens a device for `plan` (f32 weights) and compiles every pipeline
    /// its dispatches use. Only the plan's shapes matter: its weights are
    /// packed and dropped unread, so placeholders do.
    pub async fn new(plan: Plan) -> Result<Self> {
        check_plan(&plan)?;
        let input_shape = plan.input.shape.clone();
        let ctx = open(&plan, Wanted { subgroups: true, ..Wanted::default() }).await?;
        let kernels: Vec<_> = {
            let (lowered, _) = lower_for(&plan, &ctx, Occupancy::Auto)?;
            lowered.dispatches.into_iter().chain(lowered.pools.into_iter().map(|(_, d)| d)).map(|d| d.kernel).collect()
        };
        // The placeholder weights, packed or not, are not needed past here.
        drop(plan);
        let mut pipelines = Pipelines::new(&ctx.device, ctx.f16, ctx.subgroups);
        ctx.checked("compiling the pipelines ahead", || {
            for k in &kernels {
                pipelines.get(&ctx.device, k);
            }
        })
        .await?;
        Ok(Prepared { ctx, pipelines, input_shape })
    }

    /// The input shape of the plan whose pipelines these are: a plan of
    /// another input (a batch, another size) needs other shapes.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// How many pipelines were compiled.
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.list.len()
    }
}
