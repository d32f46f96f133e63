//! Softmax and top-k over classifier outputs.

/// One ranked class.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// Numerically stable softmax: the maximum is subtracted before `exp`, so
/// large logits don't overflow. NaN logits make every output NaN, so an
/// upstream fault can't pass for a confident answer.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    if logits.iter().any(|x| x.is_nan()) {
        return vec![f32::NAN; logits.len()];
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max.is_infinite() {
        // `x - max` would be NaN for the infinite entries; the limit puts all
        // mass, evenly, on the logits equal to the maximum.
        let hits = logits.iter().filter(|&&x| x == max).count() as f32;
        return logits.iter().map(|&x| if x == max { 1.0 / hits } else { 0.0 }).collect();
    }
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    // The maximum contributes exp(0) = 1, so the sum is >= 1.
    let sum: f64 = exps.iter().map(|&e| f64::from(e)).sum();
    exps.iter().map(|&e| (f64::from(e) / sum) as f32).collect()
}

/// The `k` highest-scoring classes, best first; ties go to the lower index and
/// NaN scores rank last. `k` may exceed `probs.len()`. A class without a
/// (non-empty) label is named `"class N"`.
pub fn top_k(probs: &[f32], k: usize, labels: Option<&[String]>) -> Vec<Prediction> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    // A stable sort keeps equal scores in index order.
    order.sort_by(|&a, &b| {
        let (pa, pb) = (probs[a], probs[b]);
        pa.is_nan().cmp(&pb.is_nan()).then_with(|| pb.total_cmp(&pa))
    });
    order
        .into_iter()
        .take(k)
        .map(|index| Prediction { index, label: label_for(index, labels), probability: probs[index] })
        .collect()
}

/// Class `index`'s name: its (non-empty) label, else `"class N"`.
pub fn label_for(index: usize, labels: Option<&[String]>) -> String {
    labels.and_then(|l| l.get(index)).filter(|l| !l.is_empty()).cloned().unwrap_or_else(|| format!("class {index}"))
}
