//! Emits ONNX-semantics nodes for a network described by a state dict,
//! taking each weight by its name so leftovers can be reported.

use super::state_dict::{StateDict, Tensor};
use super::{AttrValue, Constant, Dim, Graph, Node, ValueInfo};
use crate::error::{Error, Result};
use crate::preprocess::PreprocessConfig;
use std::collections::HashMap;

/// Default input size declared by built graphs; the planner accepts any other.
const INPUT_SIZE: usize = 224;
pub const INPUT: &str = "input";
const OUTPUT: &str = "logits";

pub enum Pad {
    /// `(k - 1) / 2` on every side, as torch's `padding=k//2`.
    Half,
    /// TensorFlow "same": the planner resolves it per input size, extra pixel after.
    SameUpper,
}

/// A convolution's output value and its channel count, read off its weight.
pub struct ConvOut {
    pub out: String,
    pub cout: usize,
}

pub fn missing(name: &str) -> Error {
    Error::ModelFormat(format!("missing tensor '{name}'"))
}

pub fn bad(name: &str, t: &Tensor, want: impl std::fmt::Display) -> Error {
    Error::ModelFormat(format!("tensor '{name}' has shape {:?}, expected {want}", t.dims))
}

pub struct Builder {
    weights: HashMap<String, Tensor>,
    /// Names in file order, for a deterministic leftover report.
    order: Vec<String>,
    graph: Graph,
    count: usize,
}

impl Builder {
    pub fn new(sd: StateDict) -> Result<Self> {
        let mut weights = HashMap::new();
        let mut order = Vec::new();
        for (name, t) in sd.tensors {
            order.push(name.clone());
            if weights.insert(name.clone(), t).is_some() {
                return Err(Error::ModelFormat(format!("tensor '{name}' appears twice")));
            }
        }
        let graph = Graph {
            inputs: vec![ValueInfo {
                name: INPUT.into(),
                dims: Some(vec![
                    Dim::Symbolic("N".into()),
                    Dim::Fixed(3),
                    Dim::Fixed(INPUT_SIZE),
                    Dim::Fixed(INPUT_SIZE),
                ]),
            }],
            opset: 17,
            ..Graph::default()
        };
        Ok(Builder { weights, order, graph, count: 0 })
    }

    pub fn has(&self, name: &str) -> bool {
        self.weights.contains_key(name)
    }

    pub fn peek(&self, name: &str) -> Result<&Tensor> {
        self.weights.get(name).ok_or_else(|| missing(name))
    }

    /// Moves a weight into the graph's initializers after checking its dims.
    fn take(&mut self, name: &str, dims: &[usize]) -> Result<String> {
        let t = self.weights.remove(name).ok_or_else(|| missing(name))?;
        if t.dims != dims {
            return Err(bad(name, &t, format!("{dims:?}")));
        }
        self.graph.initializers.insert(name.to_string(), Constant::f32(t.dims, t.data));
        Ok(name.to_string())
    }

    fn node(&mut self, op: &str, label: &str, inputs: Vec<String>, attrs: Vec<(&str, AttrValue)>) -> String {
        self.count += 1;
        let out = format!("{label}/{op}#{}", self.count);
        self.graph.nodes.push(Node {
            name: out.clone(),
            op: op.into(),
            inputs,
            outputs: vec![out.clone()],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
        out
    }

    /// `prefix.weight` (OIHW, square kernel) and optional `prefix.bias`; the
    /// group count is read off the weight against `cin`.
    pub fn conv(&mut self, x: &str, prefix: &str, cin: usize, stride: usize, pad: Pad) -> Result<ConvOut> {
        let wname = format!("{prefix}.weight");
        let w = self.peek(&wname)?;
        let &[cout, per_group, kh, kw] = w.dims.as_slice() else {
            return Err(bad(&wname, w, "a 4-D conv weight"));
        };
        if kh != kw || kh == 0 || per_group == 0 || cin % per_group != 0 || cout % (cin / per_group) != 0 {
            return Err(bad(&wname, w, format!("a square kernel over {cin} input channels")));
        }
        let groups = cin / per_group;
        let mut inputs = vec![x.to_string(), self.take(&wname, &[cout, per_group, kh, kw])?];
        let bname = format!("{prefix}.bias");
        if self.has(&bname) {
            inputs.push(self.take(&bname, &[cout])?);
        }
        let k = kh as i64;
        let mut attrs = vec![
            ("kernel_shape", AttrValue::Ints(vec![k, k])),
            ("strides", AttrValue::Ints(vec![stride as i64; 2])),
            ("group", AttrValue::Int(groups as i64)),
        ];
        match pad {
            Pad::Half => attrs.push(("pads", AttrValue::Ints(vec![(k - 1) / 2; 4]))),
            Pad::SameUpper => attrs.push(("auto_pad", AttrValue::Str("SAME_UPPER".into()))),
        }
        let out = self.node("Conv", prefix, inputs, attrs);
        Ok(ConvOut { out, cout })
    }

    /// Inference BatchNormalization from `prefix.{weight,bias,running_mean,running_var}`.
    pub fn bn(&mut self, x: &str, prefix: &str, channels: usize, eps: f32) -> Result<String> {
        let mut inputs = vec![x.to_string()];
        for p in ["weight", "bias", "running_mean", "running_var"] {
            inputs.push(self.take(&format!("{prefix}.{p}"), &[channels])?);
        }
        Ok(self.node("BatchNormalization", prefix, inputs, vec![("epsilon", AttrValue::Float(eps))]))
    }

    pub fn relu(&mut self, x: &str, label: &str) -> String {
        self.node("Relu", label, vec![x.into()], vec![])
    }

    /// Clip(0, 6) with opset-11 bound inputs, as torch exports ReLU6.
    pub fn relu6(&mut self, x: &str, label: &str) -> String {
        for (name, v) in [("relu6.min", 0.0), ("relu6.max", 6.0)] {
            self.graph.initializers.entry(name.into()).or_insert_with(|| Constant::f32(vec![], vec![v]));
        }
        self.node("Clip", label, vec![x.into(), "relu6.min".into(), "relu6.max".into()], vec![])
    }

    pub fn add(&mut self, a: &str, b: &str, label: &str) -> String {
        self.node("Add", label, vec![a.into(), b.into()], vec![])
    }

    pub fn max_pool(&mut self, x: &str, kernel: i64, stride: i64, pad: i64) -> String {
        let attrs = vec![
            ("kernel_shape", AttrValue::Ints(vec![kernel; 2])),
            ("strides", AttrValue::Ints(vec![stride; 2])),
            ("pads", AttrValue::Ints(vec![pad; 4])),
        ];
        self.node("MaxPool", "maxpool", vec![x.into()], attrs)
    }

    /// GlobalAveragePool -> Flatten -> Gemm(transB) over `prefix.weight` `[classes, features]`.
    pub fn classifier(&mut self, x: &str, prefix: &str, features: usize) -> Result<()> {
        let wname = format!("{prefix}.weight");
        let w = self.peek(&wname)?;
        let classes = match w.dims.as_slice() {
            &[c, f] if f == features && c > 0 => c,
            _ => return Err(bad(&wname, w, format!("[classes, {features}]"))),
        };
        let x = self.node("GlobalAveragePool", prefix, vec![x.into()], vec![]);
        let x = self.node("Flatten", prefix, vec![x], vec![("axis", AttrValue::Int(1))]);
        let mut inputs = vec![x, self.take(&wname, &[classes, features])?];
        let bname = format!("{prefix}.bias");
        if self.has(&bname) {
            inputs.push(self.take(&bname, &[classes])?);
        }
        self.graph.nodes.push(Node {
            name: format!("{prefix}/Gemm"),
            op: "Gemm".into(),
            inputs,
            outputs: vec![OUTPUT.into()],
            attrs: vec![("transB".into(), AttrValue::Int(1))],
        });
        self.graph.outputs =
            vec![ValueInfo { name: OUTPUT.into(), dims: Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(classes)]) }];
        Ok(())
    }

    /// The graph, once every weight has found its place. BatchNorm's
    /// `num_batches_tracked` counters are training state and are dropped.
    /// The graph, carrying `preprocess` (how the network was trained to see
    /// images) and, for 1000 classes, the ImageNet-1k names.
    pub fn finish(mut self, preprocess: PreprocessConfig) -> Result<Graph> {
        let left: Vec<&String> = self
            .order
            .iter()
            .filter(|n| self.weights.contains_key(*n) && !n.ends_with(".num_batches_tracked"))
            .collect();
        if let Some(first) = left.first() {
            return Err(Error::ModelFormat(format!(
                "tensor '{first}' does not fit the architecture inferred from the names ({} unused tensors)",
                left.len()
            )));
        }
        let imagenet =
            self.graph.outputs.iter().any(|o| o.dims.as_ref().and_then(|d| d.last()) == Some(&Dim::Fixed(1000)));
        self.graph.labels = imagenet.then(crate::labels::imagenet1k);
        self.graph.preprocess = Some(preprocess);
        Ok(self.graph)
    }
}
