//! Convolution and pooling, windowed or global: NHWC in, NHWC out.

use super::window::{pair, window};
use super::{shape_err, Lowerer, Value};
use crate::error::{Error, Result};
use crate::model::Node;
use crate::plan::{Activation, Conv, Layout, Pool, PoolKind, Step};
use crate::transpose::transpose_into;

impl Lowerer<'_> {
    pub(super) fn lower_conv(&mut self, node: &Node) -> Result<()> {
        let x = self.act(node, 0)?;
        let w = self.weight(node, 1)?;
        let x = self.nhwc(x, node)?;
        let s = self.logical(x).to_vec();
        if w.dims.len() != 4 {
            return Err(Error::unsupported(
                "Conv",
                &node.name,
                format!("weight of rank {} (only 2-D convolution)", w.dims.len()),
            ));
        }
        let groups = usize::try_from(node.int("group", 1)?)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| shape_err(node, "group < 1"))?;
        let (cout, cin_g, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
        if cin_g * groups != s[1] || cout % groups != 0 || kh == 0 || kw == 0 {
            return Err(shape_err(node, format!("weight {:?} with group {groups} does not fit input {s:?}", w.dims)));
        }
        if let Some(k) = node.ints("kernel_shape")? {
            if k != [kh as i64, kw as i64] {
                return Err(shape_err(node, format!("kernel_shape {k:?} differs from weight {:?}", w.dims)));
            }
        }
        let win = window(node, [s[2], s[3]], [kh, kw], false)?;
        let bias = match self.opt_weight(node, 2)? {
            Some(b) if b.len() == cout => b.to_f32(),
            Some(_) => return Err(shape_err(node, "bias length differs from output channels")),
            None => vec![0.0; cout],
        };
        // OIHW -> OHWI: each filter's `[cin_g][kh * kw]` transposed in place
        // (no new memory for the weights); a 1x1 kernel's is already in order.
        let taps = kh * kw;
        let int8 = node.input(1).is_some_and(|n| self.graph.int8_weights.contains(n));
        let mut weight = self.weight_values(node, 1, w);
        if taps > 1 {
            let mut filter = vec![0.0; cin_g * taps];
            for dst in weight.chunks_exact_mut(cin_g * taps) {
                filter.copy_from_slice(dst);
                transpose_into(&filter, cin_g, taps, dst, cin_g);
            }
        }
        let requant = if int8 { self.requant(node, x, (1, 2), &bias) } else { None };
        let out =
            self.new_tensor(vec![s[0], cout, win.out[0], win.out[1]], Layout::Nhwc, self.output_name(node)?, None)?;
        self.push(Step::Conv(Conv {
            input: x,
            output: out,
            residual: None,
            in_channels: s[1],
            out_channels: cout,
            kernel: win.kernel,
            stride: win.stride,
            pad: win.pad,
            dilation: win.dilation,
            groups,
            weight,
            bias,
            activation: Activation::None,
            int8,
            input_quant: self.draft.grids.get(&x).copied(),
            requant,
        }));
        self.define(node, Value::Act(out))
    }

    pub(super) fn lower_pool(&mut self, node: &Node) -> Result<()> {
        if node.outputs.get(1).is_some_and(|s| !s.is_empty()) {
            return Err(Error::unsupported(&node.op, &node.name, "indices output"));
        }
        let x = self.act(node, 0)?;
        let x = self.nhwc(x, node)?;
        let s = self.logical(x).to_vec();
        let kernel = pair(node, "kernel_shape", 0)?;
        let win = window(node, [s[2], s[3]], kernel, node.int("ceil_mode", 0)? != 0)?;
        let kind = if node.op == "MaxPool" {
            PoolKind::Max
        } else {
            PoolKind::Avg { count_include_pad: node.int("count_include_pad", 0)? != 0 }
        };
        let out =
            self.new_tensor(vec![s[0], s[1], win.out[0], win.out[1]], Layout::Nhwc, self.output_name(node)?, None)?;
        self.push(Step::Pool(Pool {
            input: x,
            output: out,
            kind,
            kernel: win.kernel,
            stride: win.stride,
            pad: win.pad,
            dilation: win.dilation,
        }));
        self.define(node, Value::Act(out))
    }

    /// GlobalAveragePool, or GlobalMaxPool as a max pool over the whole map.
    pub(super) fn lower_global_pool(&mut self, node: &Node) -> Result<()> {
        let op = node.op.as_str();
        let x = self.act(node, 0)?;
        let x = self.nhwc(x, node)?;
        let s = self.logical(x).to_vec();
        let out = self.new_tensor(vec![s[0], s[1], 1, 1], Layout::Nhwc, self.output_name(node)?, None)?;
        self.push(if op == "GlobalAveragePool" {
            Step::GlobalAvgPool { input: x, output: out }
        } else {
            Step::Pool(Pool {
                input: x,
                output: out,
                kind: PoolKind::Max,
                kernel: [s[2], s[3]],
                stride: [1, 1],
                pad: [0; 4],
                dilation: [1, 1],
            })
        });
        self.define(node, Value::Act(out))
    }
}
