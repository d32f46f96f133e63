//! ONNX 2-D window attributes (kernel, strides, dilations, pads, auto_pad)
//! shared by Conv and the pools, and the output size they give.

use super::shape_err;
use crate::error::{Error, Result};
use crate::model::Node;

/// ONNX 2-D spatial attributes shared by Conv and the pools.
pub(super) struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad: [usize; 4],
    pub out: [usize; 2],
}

pub(super) fn pair(node: &Node, name: &str, default: usize) -> Result<[usize; 2]> {
    match node.ints(name)? {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| (1..=1 << 16).contains(&x)) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(Error::unsupported(&node.op, &node.name, format!("{name} {v:?} (only 2-D, positive)"))),
    }
}

pub(super) fn window(node: &Node, in_hw: [usize; 2], kernel: [usize; 2], ceil_mode: bool) -> Result<Window> {
    let stride = pair(node, "strides", 1)?;
    let dilation = pair(node, "dilations", 1)?;
    let auto_pad = node.string("auto_pad")?.unwrap_or_else(|| "NOTSET".into());
    let extent = |i: usize| (kernel[i] - 1) * dilation[i] + 1;
    let mut pad = [0usize; 4];
    match auto_pad.as_str() {
        "NOTSET" => {
            if let Some(p) = node.ints("pads")? {
                if p.len() != 4 || p.iter().any(|&x| !(0..=1 << 16).contains(&x)) {
                    return Err(Error::unsupported(
                        &node.op,
                        &node.name,
                        format!("pads {p:?} (only 2-D, non-negative)"),
                    ));
                }
                pad = [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize];
            }
        }
        "VALID" => {}
        "SAME_UPPER" | "SAME_LOWER" => {
            for i in 0..2 {
                let out = in_hw[i].div_ceil(stride[i]);
                let total = ((out - 1) * stride[i] + extent(i)).saturating_sub(in_hw[i]);
                let small = total / 2;
                let (begin, end) =
                    if auto_pad == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
                pad[i] = begin;
                pad[i + 2] = end;
            }
        }
        other => return Err(Error::unsupported(&node.op, &node.name, format!("auto_pad {other}"))),
    }
    let mut out = [0usize; 2];
    for i in 0..2 {
        let padded = in_hw[i] + pad[i] + pad[i + 2];
        if padded < extent(i) {
            return Err(shape_err(node, format!("window {kernel:?} larger than padded input {in_hw:?}")));
        }
        let span = padded - extent(i);
        out[i] = if ceil_mode { span.div_ceil(stride[i]) + 1 } else { span / stride[i] + 1 };
        // A ceil-mode window must start inside the input or its leading pad.
        if ceil_mode && (out[i] - 1) * stride[i] >= in_hw[i] + pad[i] {
            out[i] -= 1;
        }
    }
    Ok(Window { kernel, stride, dilation, pad, out })
}
