//! `bench --profile`: each dispatch's GPU time (the median over profiled
//! runs, from timestamp queries), with the network stage it belongs to, and
//! sums by kind and by stage.

use super::median_ms;
use crate::error::Result;
use crate::gpu::{step_stages, DispatchInfo, GpuBackend};
use crate::plan::Plan;

/// One dispatch's median GPU time.
#[derive(Debug, Clone)]
pub struct Timed {
    pub info: DispatchInfo,
    /// `stem`, `layer1`..`layer4` or `head` (see [`step_stages`]).
    pub stage: String,
    pub ms: f64,
}

#[derive(Debug, Clone)]
pub struct RowProfile {
    pub dispatches: Vec<Timed>,
    /// Median, over the profiled runs, of the first dispatch's start to the last one's end.
    pub span_ms: f64,
}

impl RowProfile {
    /// Sum of the dispatches' median GPU times.
    pub fn gpu_ms(&self) -> f64 {
        self.dispatches.iter().map(|d| d.ms).sum()
    }

    /// Total GPU time and dispatch count per `key`, in order of first appearance.
    pub fn totals(&self, key: impl Fn(&Timed) -> &str) -> Vec<(String, f64, usize)> {
        let mut out: Vec<(String, f64, usize)> = Vec::new();
        for d in &self.dispatches {
            match out.iter_mut().find(|(k, ..)| k == key(d)) {
                Some((_, ms, n)) => {
                    *ms += d.ms;
                    *n += 1;
                }
                None => out.push((key(d).to_string(), d.ms, 1)),
            }
        }
        out
    }
}

/// `runs` profiled runs of `backend` on `x`, reduced to per-dispatch medians.
pub fn measure(backend: &mut GpuBackend, plan: &Plan, x: &[f32], runs: usize) -> Result<RowProfile> {
    let profiles = (0..runs.max(1)).map(|_| backend.profile_blocking(x)).collect::<Result<Vec<_>>>()?;
    let stage = step_stages(plan);
    let dispatches = profiles[0]
        .dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| Timed {
            info: d.info.clone(),
            stage: stage.get(d.info.step).cloned().unwrap_or_default(),
            ms: median_ms(profiles.iter().map(|p| p.dispatches[i].seconds).collect()),
        })
        .collect();
    Ok(RowProfile { dispatches, span_ms: median_ms(profiles.iter().map(|p| p.span_seconds).collect()) })
}
