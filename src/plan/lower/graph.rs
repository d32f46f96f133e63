//! The graph as a whole: the order its nodes run in, and its input's shape.

use std::collections::{HashMap, VecDeque};

use super::Value;
use crate::error::{Error, Result};
use crate::model::{Dim, Graph, Node};

/// Orders nodes so each runs after the producers of its inputs; detects cycles,
/// duplicate outputs and reads of undefined values.
pub(super) fn topo_order<'g>(graph: &'g Graph, known: &HashMap<String, Value<'g>>) -> Result<Vec<&'g Node>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if known.contains_key(o.as_str()) || producer.insert(o, i).is_some() {
                return Err(Error::ModelFormat(format!("value '{o}' is defined more than once")));
            }
        }
    }
    let mut pending = vec![0usize; graph.nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            match producer.get(inp.as_str()) {
                Some(&p) => {
                    pending[i] += 1;
                    users[p].push(i);
                }
                None if known.contains_key(inp) => {}
                None => {
                    return Err(Error::ModelFormat(format!(
                        "node '{}' reads '{inp}', which no node, input or initializer defines",
                        n.name
                    )))
                }
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..graph.nodes.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(graph.nodes.len());
    while let Some(i) = ready.pop_front() {
        order.push(&graph.nodes[i]);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != graph.nodes.len() {
        let stuck =
            graph.nodes.iter().zip(&pending).find(|(_, &p)| p > 0).map(|(n, _)| n.name.clone()).unwrap_or_default();
        return Err(Error::ModelFormat(format!("the graph has a cycle (at node '{stuck}')")));
    }
    Ok(order)
}

/// Resolves the input shape: the caller's, or the declared one with symbolic dims = 1.
pub(super) fn input_shape(graph: &Graph, requested: Option<&[usize]>) -> Result<(String, Vec<usize>)> {
    let input = match graph.inputs.as_slice() {
        [one] => one,
        [] => return Err(Error::ModelFormat("the model has no input".into())),
        many => {
            return Err(Error::unsupported(
                "Graph",
                "inputs",
                format!("{} inputs; one image input is supported", many.len()),
            ))
        }
    };
    let declared: Option<Vec<Option<usize>>> = input.dims.as_ref().map(|d| {
        d.iter()
            .map(|d| match d {
                Dim::Fixed(v) if *v > 0 => Some(*v),
                _ => None,
            })
            .collect()
    });
    let shape = match (requested, declared) {
        (Some(r), Some(d)) if r.len() != d.len() => {
            return Err(Error::Shape(format!("input '{}' has rank {}, got shape {r:?}", input.name, d.len())));
        }
        (Some(r), _) => r.to_vec(),
        (None, Some(d)) => d.iter().map(|v| v.unwrap_or(1)).collect(),
        (None, None) => return Err(Error::Shape(format!("input '{}' declares no shape; give one", input.name))),
    };
    if shape.contains(&0) {
        return Err(Error::Shape(format!("input shape {shape:?} has a zero dimension")));
    }
    Ok((input.name.clone(), shape))
}
