//! BatchNormalization folded into the Conv before it, in the graph itself:
//! the planner folds it anyway, but a model file written for int8 stores the
//! folded weights, so it quantizes the weights the kernels use and carries
//! one bias per channel instead of four BatchNorm vectors.

use std::collections::HashMap;

use super::{Constant, Graph, TensorData};

/// Folds every BatchNormalization that alone reads a Conv's output, where the
/// conv's weight and bias and the BatchNorm's parameters are f32 initializers
/// that nothing else reads. Returns how many were folded.
pub fn batch_norms(graph: &mut Graph) -> usize {
    let mut readers: HashMap<String, usize> = HashMap::new();
    for input in graph.nodes.iter().flat_map(|n| &n.inputs) {
        *readers.entry(input.clone()).or_default() += 1;
    }
    for output in &graph.outputs {
        *readers.entry(output.name.clone()).or_default() += 1;
    }
    let producer: HashMap<String, usize> =
        graph.nodes.iter().enumerate().flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.clone(), i))).collect();
    let mut folded = Vec::new();
    for bn in 0..graph.nodes.len() {
        let node = &graph.nodes[bn];
        if node.op != "BatchNormalization" || node.outputs.len() != 1 || node.inputs.len() != 5 {
            continue;
        }
        let Some(&conv) = producer.get(&node.inputs[0]) else { continue };
        if graph.nodes[conv].op != "Conv" || readers.get(&node.inputs[0]) != Some(&1) {
            continue;
        }
        let Ok(eps) = node.float("epsilon", 1e-5) else { continue };
        if fold_one(graph, conv, bn, eps, &readers).is_some() {
            folded.push(bn);
        }
    }
    for &bn in folded.iter().rev() {
        graph.nodes.remove(bn);
    }
    folded.len()
}

/// Folds node `bn` into node `conv`; None (the graph untouched) where a
/// tensor is shared, missing or of the wrong size.
fn fold_one(graph: &mut Graph, conv: usize, bn: usize, eps: f32, readers: &HashMap<String, usize>) -> Option<()> {
    let params = &graph.nodes[bn].inputs[1..5];
    let conv_inputs = &graph.nodes[conv].inputs;
    let owned = |name: &String| readers.get(name) == Some(&1) && graph.initializers.contains_key(name);
    if !params.iter().chain(&conv_inputs[1..]).all(owned) || params.iter().any(|p| conv_inputs.contains(p)) {
        return None;
    }
    let f32s = |name: &String| match &graph.initializers.get(name)?.data {
        TensorData::F32(v) => Some(v.clone()),
        TensorData::I64(_) => None,
    };
    let weight = graph.initializers.get(conv_inputs.get(1)?)?;
    let channels = *weight.dims.first()?;
    let [gamma, beta, mean, var] = [0, 1, 2, 3].map(|i| f32s(&params[i]).filter(|v| v.len() == channels));
    let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
    let bias = match conv_inputs.get(2).filter(|b| !b.is_empty()) {
        Some(b) => f32s(b).filter(|v| v.len() == channels)?,
        None => vec![0.0; channels],
    };
    let TensorData::F32(w) = &weight.data else { return None };
    let per_channel = w.len().checked_div(channels).unwrap_or(0);
    let factor: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let new_w: Vec<f32> = w.iter().enumerate().map(|(i, x)| x * factor[i / per_channel.max(1)]).collect();
    let new_b: Vec<f32> = (0..channels).map(|c| (bias[c] - mean[c]) * factor[c] + beta[c]).collect();
    let (w_name, w_dims) = (conv_inputs[1].clone(), weight.dims.clone());
    // The folded bias takes the BatchNorm's beta's name, which nothing else reads.
    let b_name = params[1].clone();
    for p in params.iter().chain(conv_inputs.get(2).filter(|b| !b.is_empty())) {
        graph.initializers.remove(p);
    }
    graph.initializers.insert(w_name, Constant::f32(w_dims, new_w));
    graph.initializers.insert(b_name.clone(), Constant::f32(vec![channels], new_b));
    let out = graph.nodes[bn].outputs[0].clone();
    let node = &mut graph.nodes[conv];
    node.inputs.truncate(2);
    node.inputs.push(b_name);
    node.outputs[0] = out;
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, Node, ValueInfo};

    fn node(op: &str, inputs: &[&str], output: &str) -> Node {
        Node {
            name: op.into(),
            op: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.into()],
            attrs: vec![],
        }
    }

    /// x -> Conv(w, b) -> BatchNorm -> y, two output channels of two weights each.
    fn conv_bn() -> Graph {
        let mut g = Graph {
            outputs: vec![ValueInfo { name: "y".into(), dims: None }],
            nodes: vec![
                node("Conv", &["x", "w", "b"], "c"),
                node("BatchNormalization", &["c", "g", "beta", "m", "v"], "y"),
            ],
            ..Graph::default()
        };
        g.nodes[1].attrs.push(("epsilon".into(), AttrValue::Float(0.0)));
        for (name, values) in [
            ("w", vec![1.0, 2.0, 3.0, 4.0]),
            ("b", vec![0.5, -1.0]),
            ("g", vec![2.0, -1.0]),
            ("beta", vec![0.25, 1.0]),
            ("m", vec![1.0, 2.0]),
            ("v", vec![4.0, 16.0]),
        ] {
            let dims = if name == "w" { vec![2, 2, 1, 1] } else { vec![2] };
            g.initializers.insert(name.into(), Constant::f32(dims, values));
        }
        g
    }

    #[test]
    fn a_batch_norm_after_a_conv_becomes_its_weights_and_bias() {
        let mut g = conv_bn();
        assert_eq!(batch_norms(&mut g), 1);
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(
            (g.nodes[0].inputs.clone(), g.nodes[0].outputs.clone()),
            (vec!["x".into(), "w".into(), "beta".into()], vec!["y".into()])
        );
        // Factors g / sqrt(v): 1 and -0.25.
        assert_eq!(g.initializers["w"].to_f32(), [1.0, 2.0, -0.75, -1.0]);
        // (b - m) * factor + beta: -0.5 + 0.25 and 0.75 + 1.
        assert_eq!(g.initializers["beta"].to_f32(), [-0.25, 1.75]);
        assert_eq!(g.initializers.len(), 2);
    }

    #[test]
    fn a_shared_conv_output_or_parameter_is_left_alone() {
        let mut g = conv_bn();
        g.nodes.push(node("Relu", &["c"], "z"));
        assert_eq!(batch_norms(&mut g), 0);
        let mut g = conv_bn();
        g.nodes.push(node("Relu", &["m"], "z"));
        assert_eq!(batch_norms(&mut g), 0);
        assert_eq!(g, {
            let mut h = conv_bn();
            h.nodes.push(node("Relu", &["m"], "z"));
            h
        });
    }
}
