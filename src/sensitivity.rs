//! Which weights int8 hurts most, for `convert --int8 --sensitivity K`: each
//! conv and dense weight is quantized alone (the rest kept f32) and the model
//! run on calibration inputs; a weight's score is the mean KL divergence of
//! the softmax from the f32 model's. The worst few stay f16 in the file.

use crate::backend::{Backend, BackendKind};
use crate::error::Result;
use crate::model::format::int8;
use crate::model::Graph;
use crate::plan::{compile, CompileOptions};

/// (score, weight name) for every weight `convert --int8` would quantize,
/// worst first; `batch` holds the inputs of `shape` (batch dimension first).
pub fn rank(graph: &Graph, batch: &[f32], shape: &[usize]) -> Result<Vec<(f64, String)>> {
    let run = |g: &Graph| -> Result<Vec<f32>> {
        let plan = compile(g, &CompileOptions { input_shape: Some(shape.to_vec()) })?;
        Backend::new_blocking(&plan, BackendKind::Cpu)?.run_blocking(batch)
    };
    let reference = run(graph)?;
    let classes = reference.len() / shape[0].max(1);
    let mut weights: Vec<_> = int8::weight_axes(graph).into_iter().collect();
    weights.sort();
    let mut ranked = Vec::with_capacity(weights.len());
    for (name, axis) in weights {
        let Some(quantized) = int8::round_trip(&graph.initializers[&name], axis) else { continue };
        let mut g = graph.clone();
        g.initializers.insert(name.clone(), quantized);
        ranked.push((mean_kl(&reference, &run(&g)?, classes), name));
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(ranked)
}

fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let e: Vec<f64> = logits.iter().map(|&x| f64::from(x - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// Mean over the rows (of `classes` logits) of KL(softmax(p) || softmax(q)).
fn mean_kl(p: &[f32], q: &[f32], classes: usize) -> f64 {
    let rows = p.chunks(classes.max(1)).zip(q.chunks(classes.max(1)));
    let n = p.len().div_ceil(classes.max(1)).max(1);
    let total: f64 = rows
        .map(|(p, q)| {
            let (p, q) = (softmax(p), softmax(q));
            p.iter().zip(&q).map(|(a, b)| a * ((a + 1e-12).ln() - (b + 1e-12).ln())).sum::<f64>()
        })
        .sum();
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_equal_rows_and_grows_with_the_difference() {
        let p = [1.0, 2.0, 3.0, 0.0, 0.0, 0.0];
        assert!(mean_kl(&p, &p, 3).abs() < 1e-12);
        let near = [1.0, 2.0, 3.1, 0.0, 0.0, 0.0];
        let far = [3.0, 2.0, 1.0, 0.0, 0.0, 0.0];
        assert!(mean_kl(&p, &near, 3) > 0.0);
        assert!(mean_kl(&p, &far, 3) > mean_kl(&p, &near, 3));
    }
}
