//! Model import: bytes in, a format-neutral [`Graph`] out.
//!
//! The graph is ONNX-shaped (named values, ops with attributes, constant
//! initializers) because every importer can express itself that way; the
//! planner (`crate::plan`) is the only consumer.
//!
//! Weight files (torch `.pth`, `.safetensors`) hold no graph: `state_dict`
//! reads them and the architecture builders (`resnet`, `efficientnet`) emit
//! the nodes an ONNX export of the same network would have.

pub mod arch;
mod builder;
mod efficientnet;
pub mod fold;
pub mod format;
pub mod incoming;
pub mod onnx;
mod pickle;
mod resnet;
pub mod state_dict;
mod torch;

use crate::error::{Error, Result};
use crate::preprocess::PreprocessConfig;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Constant tensor data. Integer types are widened to i64, float types to f32.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor (initializer, Constant node value, folded value).
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub dims: Vec<usize>,
    pub data: TensorData,
}

impl Constant {
    pub fn f32(dims: Vec<usize>, data: Vec<f32>) -> Self {
        Constant { dims, data: TensorData::F32(data) }
    }
    pub fn i64(dims: Vec<usize>, data: Vec<i64>) -> Self {
        Constant { dims, data: TensorData::I64(data) }
    }
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        self.f32s().into_owned()
    }
    /// Values as f32, borrowed where they already are (weights: no copy).
    pub fn f32s(&self) -> Cow<'_, [f32]> {
        match &self.data {
            TensorData::F32(v) => Cow::Borrowed(v),
            TensorData::I64(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
        }
    }
    /// Values as i64 (floats truncated).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I64(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Str(String),
    Strs(Vec<String>),
    Tensor(Constant),
    /// Sub-graphs and other kinds webresnet never needs; kept so that errors can name them.
    Other(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: String,
    /// Input value names; an empty string marks an omitted optional input.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(String, AttrValue)>,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
    fn bad_attr(&self, name: &str, want: &str) -> Error {
        Error::unsupported(&self.op, &self.name, format!("attribute '{name}' must be {want}"))
    }
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(_) => Err(self.bad_attr(name, "an int")),
        }
    }
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(AttrValue::Int(v)) => Ok(*v as f32),
            Some(_) => Err(self.bad_attr(name, "a float")),
        }
    }
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(AttrValue::Int(v)) => Ok(Some(vec![*v])),
            Some(_) => Err(self.bad_attr(name, "a list of ints")),
        }
    }
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Str(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.bad_attr(name, "a string")),
        }
    }
    pub fn tensor(&self, name: &str) -> Result<Option<Constant>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t.clone())),
            Some(_) => Err(self.bad_attr(name, "a tensor")),
        }
    }
    /// The i-th input name, if present and non-empty.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
}

/// A declared graph input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    /// None when the model declares no shape.
    pub dims: Option<Vec<Dim>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Real inputs (values that are not initializers).
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Nodes in file order (the planner sorts them topologically).
    pub nodes: Vec<Node>,
    pub initializers: HashMap<String, Constant>,
    /// Default-domain opset version (affects a few attribute-vs-input conventions).
    pub opset: i64,
    /// How images become the input, when the source says (weight files of a
    /// known network, the project's model file); the planner's default otherwise.
    pub preprocess: Option<PreprocessConfig>,
    /// Class names in output order, when the source says.
    pub labels: Option<Vec<String>>,
    /// Initializers loaded from int8 codes with per-output-channel scales:
    /// the CPU backend runs the layers that read them on int8 kernels.
    pub int8_weights: HashSet<String>,
    /// A QDQ model's weight scales (one per output channel, or one) of the
    /// [`Graph::int8_weights`] it dequantized.
    pub weight_scales: HashMap<String, Vec<f32>>,
    /// A QDQ model's int32 bias codes, by the name of the f32 initializer
    /// they were dequantized into.
    pub bias_codes: HashMap<String, Vec<i32>>,
}

/// Import model bytes, sniffing the format: the project's model file
/// ([`format`], itself a safetensors file, so it is tried first), torch `.pth`
/// (legacy or zip) or `.safetensors` weights with torchvision/timm ResNet or
/// EfficientNet-Lite names; anything else is parsed as ONNX.
pub fn import(bytes: &[u8]) -> Result<Graph> {
    import_as(bytes, None)
}

/// [`import`], checking that a weights file holds the named architecture
/// ([`arch`]); other formats carry their graph, so naming one is an error.
pub fn import_as(bytes: &[u8], arch: Option<&str>) -> Result<Graph> {
    let model_file = format::sniff(bytes);
    if let Some(format) = state_dict::sniff(bytes).filter(|_| !model_file) {
        return state_dict::to_graph(state_dict::read(bytes, format)?, arch);
    }
    if let Some(name) = arch {
        return Err(Error::InvalidInput(format!(
            "--arch {name} applies to weight files (.pth, .safetensors); this model carries its own graph"
        )));
    }
    if model_file {
        format::read(bytes)
    } else {
        onnx::import(bytes)
    }
}
