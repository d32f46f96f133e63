//! One error type for the whole crate. Every variant has a stable `code()`
//! that crosses into JavaScript and into CLI messages unchanged.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The model bytes are not a well-formed model (bad protobuf, bad tensor data...).
    ModelFormat(String),
    /// An op (or an attribute value of an op) that webresnet does not implement.
    UnsupportedOp { op: String, node: String, detail: String },
    /// Shapes that don't agree, or an input shape the model can't take.
    Shape(String),
    /// The image bytes could not be decoded, or the image is unusable.
    ImageDecode(String),
    /// Caller passed an invalid argument (wrong input length, bad option...).
    InvalidInput(String),
    /// A resource limit was hit (dimensions, bytes).
    Limit(String),
    /// No usable WebGPU / GPU adapter or device.
    GpuUnavailable(String),
    /// Any other backend failure (device lost, mapping failed...).
    Backend(String),
    /// The model can run, but not what was asked of it (a heatmap needs a
    /// head of global average pooling then one dense layer).
    UnsupportedModel(String),
    /// Filesystem / IO error (CLI only).
    Io(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Stable, machine-readable code. Never rename these: JS callers match on them.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelFormat(_) => "MODEL_FORMAT",
            Error::UnsupportedOp { .. } => "UNSUPPORTED_OP",
            Error::Shape(_) => "SHAPE",
            Error::ImageDecode(_) => "IMAGE_DECODE",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Limit(_) => "LIMIT",
            Error::GpuUnavailable(_) => "WEBGPU_UNAVAILABLE",
            Error::Backend(_) => "BACKEND",
            Error::UnsupportedModel(_) => "UNSUPPORTED_MODEL",
            Error::Io(_) => "IO",
        }
    }

    pub fn unsupported(op: &str, node: &str, detail: impl Into<String>) -> Self {
        Error::UnsupportedOp { op: op.to_string(), node: node.to_string(), detail: detail.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ModelFormat(m) => write!(f, "invalid model: {m}"),
            Error::UnsupportedOp { op, node, detail } => {
                write!(f, "unsupported op {op} (node '{node}'): {detail}")
            }
            Error::Shape(m) => write!(f, "shape error: {m}"),
            Error::ImageDecode(m) => write!(f, "cannot decode image: {m}"),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Limit(m) => write!(f, "limit exceeded: {m}"),
            Error::GpuUnavailable(m) => write!(f, "WebGPU unavailable: {m}"),
            Error::Backend(m) => write!(f, "backend error: {m}"),
            Error::UnsupportedModel(m) => write!(f, "unsupported model: {m}"),
            Error::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
