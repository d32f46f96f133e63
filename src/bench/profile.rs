//! `bench --profile`: each dispatch's GPU time (the median over profiled
//! runs, from timestamp queries), with the network stage it belongs to, and
//! sums by kind and by stage.

use crate::error::Result;
use crate::gpu::{DispatchInfo, GpuBackend};
use crate::plan::Plan;

/// One dispatch's median GPU time.
#[derive(Debug, Clone)]
pub struct Timed {
    pub info: DispatchInfo,
    /// `stem`, `layer1`..`layer4` or `head` (see [`stages`]).
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `runs` profiled runs of `backend` on `x`, reduced to per-dispatch medians.
pub fn measure(backend: &mut GpuBackend, plan: &Plan, x: &[f32], runs: usize) -> Result<RowProfile> {
    let profiles = (0..runs.max(1)).map(|_| backend.profile_blocking(x)).collect::<Result<Vec<_>>>()?;
    let stage = stages(plan);
    let dispatches = profiles[0]
        .dispatches
        .iter()
        .enumerate()
        .map(|(i, d)| Timed {
            info: d.info.clone(),
            stage: stage.get(d.info.step).cloned().unwrap_or_default(),
            ms: median(profiles.iter().map(|p| p.dispatches[i].seconds * 1e3).collect()),
        })
        .collect();
    Ok(RowProfile { dispatches, span_ms: median(profiles.iter().map(|p| p.span_seconds * 1e3).collect()) })
}

/// The stage of each plan step, read off its output tensor's name: the
/// `layerN` it names (torchvision's names for the four residual stages,
/// kept by the importers), else `stem` before the first such step and
/// `head` after them.
pub fn stages(plan: &Plan) -> Vec<String> {
    let mut seen = false;
    plan.steps
        .iter()
        .map(|s| {
            let name = plan.tensors.get(s.output()).map_or("", |t| t.name.as_str());
            match layer(name) {
                Some(l) => {
                    seen = true;
                    l
                }
                None if seen => "head".into(),
                None => "stem".into(),
            }
        })
        .collect()
}

/// `layerN` where `name` holds it as a word (`layer3.1.conv2`, `/layer3/...`).
fn layer(name: &str) -> Option<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.strip_prefix("layer").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names() {
        assert_eq!(layer("layer3.1.conv2.out").as_deref(), Some("layer3"));
        assert_eq!(layer("/layer4/layer4.0/relu_2/Relu_output_0").as_deref(), Some("layer4"));
        assert_eq!(layer("conv1.out"), None);
        assert_eq!(layer("layers.out"), None);
        assert_eq!(layer("mylayer2"), None);
    }
}
