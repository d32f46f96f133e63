//! Class activation maps: where in the picture the evidence for a class lies,
//! from the same pass that classifies it (see [`crate::plan::CamHead`]).

use image::{Rgb, RgbImage};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::postprocess::softmax;
use crate::preprocess::{crop_window, PreprocessConfig};

/// One image's heatmap for one class, and every class's probability from the same pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The class the heatmap is of.
    pub class: usize,
    pub height: usize,
    pub width: usize,
    /// `[height * width]`, row-major, at the feature map's resolution: raw scores, no bias.
    pub heatmap: Vec<f32>,
    pub probabilities: Vec<f32>,
}

/// Runs `input` (one image, the plan's input layout) through the steps before
/// the head's pooling on `backend`, then the head here: `class`'s map, or the
/// top-1's when `class` is `None`. A head that is not global average pooling
/// then one dense layer is [`Error::UnsupportedModel`].
pub async fn explain(plan: &Plan, backend: &mut Backend, input: &[f32], class: Option<usize>) -> Result<Explanation> {
    let head = plan.cam_head()?;
    let feature_map = backend.run_features(input, &head.feature_map).await?;
    let probabilities = softmax(&head.logits(&feature_map)?);
    let class = match class {
        Some(c) => c,
        None => (0..probabilities.len())
            .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
            .ok_or_else(|| Error::UnsupportedModel("the model has no classes".into()))?,
    };
    Ok(Explanation {
        class,
        height: head.height,
        width: head.width,
        heatmap: head.map(&feature_map, class)?,
        probabilities,
    })
}

/// [`explain`], blocking the current thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn explain_blocking(
    plan: &Plan,
    backend: &mut Backend,
    input: &[f32],
    class: Option<usize>,
) -> Result<Explanation> {
    pollster::block_on(explain(plan, backend, input, class))
}

/// The photo with the heatmap, normalised to its own range, blended over the
/// part the model saw (`pre`'s resize and crop); the rest is dimmed.
pub fn overlay(photo: &RgbImage, e: &Explanation, pre: &PreprocessConfig) -> RgbImage {
    let [left, top, right, bottom] = crop_window(photo.width(), photo.height(), pre);
    let (lo, hi) = e.heatmap.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let at = |x: usize, y: usize| {
        let v = e.heatmap[y.min(e.height - 1) * e.width + x.min(e.width - 1)];
        if hi > lo {
            (v - lo) / (hi - lo)
        } else {
            0.0
        }
    };
    // Bilinear between cell centres, at map coordinates (cells of size 1).
    let sample = |mx: f64, my: f64| {
        let (mx, my) = (mx.max(0.0), my.max(0.0));
        let (x0, y0) = (mx.floor() as usize, my.floor() as usize);
        let (fx, fy) = ((mx - mx.floor()) as f32, (my - my.floor()) as f32);
        let row = |y| at(x0, y) * (1.0 - fx) + at(x0 + 1, y) * fx;
        row(y0) * (1.0 - fy) + row(y0 + 1) * fy
    };
    // Blue (cold) through green and yellow to red (hot).
    let ramp = |m: f32| [3.0, 2.0, 1.0].map(|c: f32| (1.5 - (4.0 * m - c).abs()).clamp(0.0, 1.0) * 255.0);
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let p = photo.get_pixel(x, y).0.map(f32::from);
        let u = (f64::from(x) + 0.5 - left) / (right - left);
        let v = (f64::from(y) + 0.5 - top) / (bottom - top);
        let out = if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) {
            let heat = ramp(sample(u * e.width as f64 - 0.5, v * e.height as f64 - 0.5));
            [0, 1, 2].map(|c| 0.45 * p[c] + 0.55 * heat[c])
        } else {
            p.map(|c| 0.35 * c)
        };
        Rgb(out.map(|c| c.round().clamp(0.0, 255.0) as u8))
    })
}
