//! Graph -> Plan: lower, fuse, allocate, then drop tensors nothing touches.

use super::{alloc, fuse, lower, Affine, Dense, Plan, PlanInput, PlanOutput, Pool, QuantizedOp, Step, TensorId};
use crate::error::Result;
use crate::model::{Constant, Graph};
use crate::preprocess::{InputLayout, PreprocessConfig};
use std::collections::HashMap;

/// Options for [`compile`].
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Full input shape in the model's declared layout (e.g. `[n,3,h,w]`).
    /// `None` uses the declared shape with symbolic dims set to 1.
    pub input_shape: Option<Vec<usize>>,
}

/// Rewrites every tensor id in a step through `map`.
fn remap(step: &mut Step, map: &[TensorId]) {
    let m = |t: &mut TensorId| *t = map[*t];
    match step {
        Step::Conv(c) => {
            m(&mut c.input);
            m(&mut c.output);
            if let Some(r) = c.residual.as_mut() {
                m(r);
            }
        }
        Step::Add { a, b, output, .. } => {
            m(a);
            m(b);
            m(output);
        }
        Step::Quantize(q) => {
            m(&mut q.input);
            m(&mut q.output);
            if let Some(QuantizedOp::Add { b, .. }) = q.of.as_mut() {
                m(b);
            }
        }
        Step::Pool(Pool { input, output, .. })
        | Step::Dense(Dense { input, output, .. })
        | Step::Affine(Affine { input, output, .. })
        | Step::GlobalAvgPool { input, output }
        | Step::Softmax { input, output }
        | Step::Permute { input, output, .. }
        | Step::Pad { input, output, .. } => {
            m(input);
            m(output);
        }
    }
}

/// Default preprocessing for an image input of `shape`: ImageNet statistics,
/// the layout read off where the 3 (or 1) channels sit, resize at 256/224 of the crop.
fn default_preprocess(shape: &[usize]) -> PreprocessConfig {
    let mut cfg = PreprocessConfig::default();
    if let [_, a, b, c] = *shape {
        let (layout, h, w) =
            if (a == 3 || a == 1) && c != 3 { (InputLayout::Nchw, b, c) } else { (InputLayout::Nhwc, a, b) };
        cfg.layout = layout;
        cfg.crop = [h as u32, w as u32];
        cfg.resize_shorter = ((h.min(w) as f32) * 256.0 / 224.0).round() as u32;
    }
    cfg
}

/// The model's own preprocessing where it has one, else the default. The crop
/// always follows the planned input shape; when that differs from the
/// model's crop, the resize keeps its ratio to the crop.
fn model_preprocess(graph: &Graph, shape: &[usize]) -> PreprocessConfig {
    let planned = default_preprocess(shape);
    let Some(model) = &graph.preprocess else { return planned };
    let mut cfg = model.clone();
    if cfg.crop != planned.crop {
        let scale = planned.crop[0].min(planned.crop[1]) as f32 / cfg.crop[0].min(cfg.crop[1]).max(1) as f32;
        cfg.resize_shorter = ((cfg.resize_shorter as f32 * scale).round() as u32).max(1);
        cfg.crop = planned.crop;
    }
    cfg
}

/// Compiles `graph`, copying its weights; see [`compile_owned`].
pub fn compile(graph: &Graph, opts: &CompileOptions) -> Result<Plan> {
    compile_from(graph, None, opts)
}

/// Compiles `graph`, taking its weights: a conv's or dense layer's weights
/// become the plan's, reordered in place, so planning needs no new memory
/// for them (and the caller holds no second copy).
pub fn compile_owned(mut graph: Graph, opts: &CompileOptions) -> Result<Plan> {
    let initializers = std::mem::take(&mut graph.initializers);
    compile_from(&graph, Some(initializers), opts)
}

fn compile_from(graph: &Graph, initializers: Option<HashMap<String, Constant>>, opts: &CompileOptions) -> Result<Plan> {
    let mut draft = lower::lower(graph, initializers, opts.input_shape.as_deref())?;
    let absorbed = fuse::fuse(&mut draft);
    let arena_len = alloc::allocate(&mut draft);

    // Keep only tensors a step, the input or the output refers to.
    let mut used = vec![false; draft.tensors.len()];
    used[draft.input] = true;
    used[draft.output] = true;
    for s in &draft.steps {
        used[s.output()] = true;
        s.inputs().into_iter().for_each(|t| used[t] = true);
    }
    let mut map = vec![usize::MAX; draft.tensors.len()];
    let mut tensors = Vec::new();
    for (t, info) in draft.tensors.iter().enumerate().filter(|(t, _)| used[*t]) {
        map[t] = tensors.len();
        tensors.push(info.clone());
    }
    let mut steps = draft.steps;
    steps.iter_mut().for_each(|s| remap(s, &map));

    let input_shape = draft.logical[draft.input].clone();
    let output_shape = draft.logical[draft.output].clone();
    let is_probability = steps.last().is_some_and(|s| matches!(s, Step::Softmax { .. }));
    let classes = output_shape.last().copied().unwrap_or(0);
    Ok(Plan {
        preprocess: model_preprocess(graph, &input_shape),
        labels: graph.labels.clone().or_else(|| (classes == 1000).then(crate::labels::imagenet1k)),
        input: PlanInput { name: draft.input_name, tensor: map[draft.input], shape: input_shape },
        output: PlanOutput { name: draft.output_name, tensor: map[draft.output], shape: output_shape, is_probability },
        tensors,
        steps,
        arena_len,
        fused_nodes: draft.folded_nodes + absorbed,
    })
}
