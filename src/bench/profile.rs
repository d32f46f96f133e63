//! `bench --profile`: each dispatch's GPU time (the median over profiled
//! runs, from timestamp queries), with the network stage it belongs to, and
//! sums by kind and by stage.

use super::median;
use crate::error::Result;
use crate::gpu::{step_stages, DispatchInfo, DispatchTime, GpuBackend, Profile};
use crate::plan::Plan;

/// The profiled runs of one case, reduced to medians.
#[derive(Debug, Clone)]
pub struct RowProfile {
    /// Each dispatch's median GPU time, and the median span.
    pub median: Profile,
    /// Each dispatch's stage: `stem`, `layer1`..`layer4` or `head` (see [`step_stages`]).
    pub stages: Vec<String>,
}

/// What [`RowProfile::totals`] sums by.
#[derive(Debug, Clone, Copy)]
pub enum By {
    Kind,
    Stage,
}

impl RowProfile {
    /// Sum of the dispatches' median GPU times.
    pub fn gpu_ms(&self) -> f64 {
        self.median.gpu_seconds() * 1e3
    }

    /// Median, over the profiled runs, of the first dispatch's start to the last one's end.
    pub fn span_ms(&self) -> f64 {
        self.median.span_seconds * 1e3
    }

    /// Each dispatch in order, with its stage and median GPU time in ms.
    pub fn dispatches(&self) -> impl Iterator<Item = (&DispatchInfo, &str, f64)> {
        self.median.dispatches.iter().zip(&self.stages).map(|(d, stage)| (&d.info, stage.as_str(), d.seconds * 1e3))
    }

    /// Total GPU time and dispatch count per kind or stage, in order of first appearance.
    pub fn totals(&self, by: By) -> Vec<(String, f64, usize)> {
        let mut out: Vec<(String, f64, usize)> = Vec::new();
        for (info, stage, ms) in self.dispatches() {
            let key = match by {
                By::Kind => info.kind,
                By::Stage => stage,
            };
            match out.iter_mut().find(|(k, ..)| k == key) {
                Some((_, total, n)) => {
                    *total += ms;
                    *n += 1;
                }
                None => out.push((key.to_string(), ms, 1)),
            }
        }
        out
    }
}

/// `runs` profiled runs of `backend` on `x`, reduced to per-dispatch medians.
pub fn measure(backend: &mut GpuBackend, plan: &Plan, x: &[f32], runs: usize) -> Result<RowProfile> {
    let profiles = (0..runs.max(1)).map(|_| backend.profile_blocking(x)).collect::<Result<Vec<_>>>()?;
    let step_stage = step_stages(plan);
    let dispatches: Vec<DispatchTime> = profiles[0]
        .dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| DispatchTime {
            info: d.info.clone(),
            seconds: median(profiles.iter().map(|p| p.dispatches[i].seconds).collect()),
        })
        .collect();
    let stages = dispatches.iter().map(|d| step_stage.get(d.info.step).cloned().unwrap_or_default()).collect();
    let span_seconds = median(profiles.iter().map(|p| p.span_seconds).collect());
    Ok(RowProfile { median: Profile { dispatches, span_seconds }, stages })
}
