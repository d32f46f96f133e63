//! ONNX protobuf import (stub: being written).
use super::Graph;
use crate::error::{Error, Result};

pub fn import(_bytes: &[u8]) -> Result<Graph> {
    Err(Error::ModelFormat("ONNX import not implemented yet".into()))
}
