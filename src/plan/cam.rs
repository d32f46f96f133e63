//! The class activation map view of a plan. For a head that is global
//! average pooling then one dense layer, the class score is the mean over
//! positions of CAM_c(y, x) = Σ_k W[c, k] · A_k(y, x), where A is the feature
//! map the pooling reads. A backend runs the steps before the pooling; the map,
//! and the logits that make it one pass with classification, come from A here.

use super::{Activation, Dense, Features, Layout, Plan, PlanOutput, PoolKind, Step};
use crate::error::{Error, Result};

/// What a heatmap needs of a plan: the cut that yields the feature map, and the head's dense layer.
#[derive(Debug)]
pub struct CamHead<'a> {
    /// The steps before the pooling; its output is the feature map, `[1, height, width, channels]` (NHWC).
    pub feature_map: Features,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    dense: &'a Dense,
}

impl Plan {
    /// The plan's head, when it is global average pooling then one dense layer (then
    /// softmax, maybe): what every ResNet, EfficientNet-Lite and MobileNet ends in.
    /// Anything else is [`Error::UnsupportedModel`].
    pub fn cam_head(&self) -> Result<CamHead<'_>> {
        let unsupported = |why: &str| {
            Error::UnsupportedModel(format!(
                "a heatmap needs a head of global average pooling then one dense layer; {why}"
            ))
        };
        let (pool_step, pooled) =
            self.last_global_pool().ok_or_else(|| unsupported("this model has no global pooling"))?;
        let map = match &self.steps[pool_step] {
            Step::GlobalAvgPool { input, .. } => *input,
            Step::Pool(p) if matches!(p.kind, PoolKind::Avg { .. }) && p.pad == [0; 4] => p.input,
            _ => return Err(unsupported("this model's global pooling is not an average")),
        };
        // Reshapes between steps are views of the same arena range, under another tensor id.
        let same_place = |a: usize, b: usize| {
            let (a, b) = (&self.tensors[a], &self.tensors[b]);
            a.offset == b.offset && a.len() == b.len()
        };
        let out = self.output.tensor;
        let dense = match &self.steps[pool_step + 1..] {
            [Step::Dense(d)] if same_place(d.output, out) => d,
            [Step::Dense(d), Step::Softmax { input, output }]
                if same_place(*input, d.output) && same_place(*output, out) =>
            {
                d
            }
            _ => return Err(unsupported("this model does more than one dense layer after its pooling")),
        };
        let t = &self.tensors[map];
        if !same_place(dense.input, pooled) || dense.activation != Activation::None {
            return Err(unsupported("its dense layer does not read the pooling as it is"));
        }
        if t.layout != Layout::Nhwc || t.shape.len() != 4 || t.shape[0] != 1 || t.shape[3] != dense.in_features {
            return Err(unsupported(&format!("its feature map is {:?} {:?}", t.layout, t.shape)));
        }
        Ok(CamHead {
            feature_map: Features {
                steps: pool_step,
                output: PlanOutput { name: t.name.clone(), tensor: map, shape: t.shape.clone(), is_probability: false },
            },
            height: t.shape[1],
            width: t.shape[2],
            channels: t.shape[3],
            dense,
        })
    }
}

impl CamHead<'_> {
    pub fn classes(&self) -> usize {
        self.dense.out_features
    }

    fn check(&self, feature_map: &[f32]) -> Result<()> {
        if feature_map.len() == self.height * self.width * self.channels {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "a feature map of {} values for {:?}",
                feature_map.len(),
                self.feature_map.output.shape
            )))
        }
    }

    /// Class `class`'s map, `[height * width]` row-major: raw scores, no bias.
    pub fn map(&self, feature_map: &[f32], class: usize) -> Result<Vec<f32>> {
        self.check(feature_map)?;
        if class >= self.classes() {
            return Err(Error::InvalidInput(format!("class {class} of a model with {} classes", self.classes())));
        }
        let w = &self.dense.weight[class * self.channels..(class + 1) * self.channels];
        Ok(feature_map.chunks_exact(self.channels).map(|a| a.iter().zip(w).map(|(a, w)| a * w).sum()).collect())
    }

    /// The head's logits from the feature map: the mean over positions, then the dense layer.
    pub fn logits(&self, feature_map: &[f32]) -> Result<Vec<f32>> {
        self.check(feature_map)?;
        let positions = (self.height * self.width) as f32;
        let mut pooled = vec![0.0f32; self.channels];
        for a in feature_map.chunks_exact(self.channels) {
            pooled.iter_mut().zip(a).for_each(|(p, a)| *p += a);
        }
        pooled.iter_mut().for_each(|p| *p /= positions);
        Ok(self
            .dense
            .weight
            .chunks_exact(self.channels)
            .zip(&self.dense.bias)
            .map(|(w, b)| w.iter().zip(&pooled).map(|(w, p)| w * p).sum::<f32>() + b)
            .collect())
    }
}
