//! Softmax stability and top-k ordering.

use webresnet::postprocess::{softmax, top_k, Prediction};

fn assert_all_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
    }
}

#[test]
fn softmax_matches_the_definition_and_sums_to_one() {
    let p = softmax(&[1.0, 2.0, 3.0]);
    let e: Vec<f32> = [1.0f32, 2.0, 3.0].iter().map(|x| x.exp()).collect();
    let s: f32 = e.iter().sum();
    assert_all_close(&p, &e.iter().map(|v| v / s).collect::<Vec<_>>());

    let logits: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0).collect();
    let p = softmax(&logits);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn softmax_is_shift_invariant_for_huge_logits() {
    assert_all_close(&softmax(&[1000.0, 1001.0, 1002.0]), &softmax(&[0.0, 1.0, 2.0]));
    assert_all_close(&softmax(&[-1e30, 0.0]), &[0.0, 1.0]);
    assert_all_close(&softmax(&[f32::MAX, f32::MAX]), &[0.5, 0.5]);
}

#[test]
fn softmax_handles_infinities_nan_and_empty() {
    assert_all_close(&softmax(&[f32::NEG_INFINITY, 0.0]), &[0.0, 1.0]);
    assert_all_close(&softmax(&[f32::INFINITY, 3.0, f32::INFINITY]), &[0.5, 0.0, 0.5]);
    assert_all_close(&softmax(&[f32::NEG_INFINITY; 4]), &[0.25; 4]);
    assert!(softmax(&[1.0, f32::NAN, 2.0]).iter().all(|v| v.is_nan()));
    assert!(softmax(&[]).is_empty());
}

fn indices(preds: &[Prediction]) -> Vec<usize> {
    preds.iter().map(|p| p.index).collect()
}

#[test]
fn top_k_orders_best_first_with_ties_to_the_lower_index() {
    let probs = [0.1, 0.3, 0.05, 0.3, 0.25];
    assert_eq!(indices(&top_k(&probs, 3, None)), [1, 3, 4]);
    assert_eq!(indices(&top_k(&probs, 10, None)), [1, 3, 4, 0, 2]);
    assert!(top_k(&probs, 0, None).is_empty());
    assert!(top_k(&[], 5, None).is_empty());
    assert_eq!(indices(&top_k(&[0.0; 4], 4, None)), [0, 1, 2, 3]);
}

#[test]
fn top_k_ranks_nan_last() {
    let probs = [f32::NAN, 0.2, f32::INFINITY, -f32::NAN, 0.7];
    assert_eq!(indices(&top_k(&probs, 5, None)), [2, 4, 1, 0, 3]);
}

#[test]
fn top_k_attaches_labels_with_a_fallback() {
    let labels: Vec<String> = ["cat", "", "dog"].map(String::from).to_vec();
    let preds = top_k(&[0.2, 0.3, 0.1, 0.4], 4, Some(&labels));
    assert_eq!(
        preds,
        [
            Prediction { index: 3, label: "class 3".into(), probability: 0.4 },
            Prediction { index: 1, label: "class 1".into(), probability: 0.3 },
            Prediction { index: 0, label: "cat".into(), probability: 0.2 },
            Prediction { index: 2, label: "dog".into(), probability: 0.1 },
        ]
    );
    assert_eq!(top_k(&[1.0], 1, None)[0].label, "class 0");
}
