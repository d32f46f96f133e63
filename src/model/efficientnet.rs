//! EfficientNet-Lite (lite0-4) from the state-dict names of the
//! `efficientnet-lite-pytorch` package: `_conv_stem`, `_bn0`,
//! `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,_bn1,_project_conv,_bn2}`,
//! `_conv_head`, `_bn1`, `_fc`.
//!
//! Lite is EfficientNet without squeeze-excitation, with ReLU6 for swish and
//! with the stem and head left unscaled. Convs use TensorFlow "same" padding
//! (asymmetric at stride 2), i.e. ONNX `SAME_UPPER`. Channels, repeats and
//! kernels come from the weights; strides, which weights cannot show, come
//! from the seven-stage block table, and the weights are checked against it.

use super::arch::Arch;
use super::builder::{bad, missing, Builder, Pad, INPUT};
use super::state_dict::StateDict;
use super::Graph;
use crate::error::{Error, Result};
use crate::preprocess::PreprocessConfig;

/// TensorFlow's BatchNorm epsilon, kept by the conversion.
const BN_EPS: f32 = 1e-3;

/// Per stage: (depthwise kernel, stride of its first block, expansion ratio).
const STAGES: [(usize, usize, usize); 7] =
    [(3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6)];

/// The network, and what it is (for `--arch`).
pub fn build(sd: StateDict) -> Result<(Graph, Arch)> {
    let mut b = Builder::new(sd)?;
    let stem = b.conv(INPUT, "_conv_stem", 3, 2, Pad::SameUpper)?;
    let x = b.bn(&stem.out, "_bn0", stem.cout, BN_EPS)?;
    let mut x = b.relu6(&x, "_bn0");
    let mut c = stem.cout;

    // Stages are runs of blocks with the same output width (every stage changes it).
    let mut stage = 0;
    let mut stage_width = None;
    let mut n = 0;
    while b.has(&format!("_blocks.{n}._depthwise_conv.weight")) {
        let p = format!("_blocks.{n}");
        let project = format!("{p}._project_conv.weight");
        let cout = *b.peek(&project)?.dims.first().ok_or_else(|| missing(&project))?;
        let first = stage_width != Some(cout);
        if first && stage_width.is_some() {
            stage += 1;
        }
        stage_width = Some(cout);
        let &(kernel, stage_stride, expand) = STAGES.get(stage).ok_or_else(|| {
            Error::ModelFormat(format!("block {p} starts an eighth stage; EfficientNet-Lite has {}", STAGES.len()))
        })?;
        let stride = if first { stage_stride } else { 1 };

        let input = x.clone();
        let mut hidden = c;
        if b.has(&format!("{p}._expand_conv.weight")) {
            let e = b.conv(&x, &format!("{p}._expand_conv"), c, 1, Pad::SameUpper)?;
            hidden = e.cout;
            x = b.bn(&e.out, &format!("{p}._bn0"), hidden, BN_EPS)?;
            x = b.relu6(&x, &format!("{p}._bn0"));
        }
        let dname = format!("{p}._depthwise_conv.weight");
        let dw_dims = b.peek(&dname)?.dims.clone();
        if hidden != c * expand || dw_dims != [hidden, 1, kernel, kernel] {
            return Err(bad(
                &dname,
                b.peek(&dname)?,
                format!("[{}, 1, {kernel}, {kernel}] (stage {} expands {c} channels {expand}x)", c * expand, stage + 1),
            ));
        }
        let dw = b.conv(&x, &format!("{p}._depthwise_conv"), hidden, stride, Pad::SameUpper)?;
        x = b.bn(&dw.out, &format!("{p}._bn1"), hidden, BN_EPS)?;
        x = b.relu6(&x, &format!("{p}._bn1"));
        let pr = b.conv(&x, &format!("{p}._project_conv"), hidden, 1, Pad::SameUpper)?;
        x = b.bn(&pr.out, &format!("{p}._bn2"), cout, BN_EPS)?;
        if stride == 1 && c == cout {
            x = b.add(&x, &input, &p);
        }
        c = cout;
        n += 1;
    }
    if stage + 1 != STAGES.len() {
        return Err(Error::ModelFormat(format!(
            "found {} EfficientNet-Lite stages in {n} blocks (_blocks.N), expected {}",
            if n == 0 { 0 } else { stage + 1 },
            STAGES.len()
        )));
    }
    let head = b.conv(&x, "_conv_head", c, 1, Pad::SameUpper)?;
    let x = b.bn(&head.out, "_bn1", head.cout, BN_EPS)?;
    let x = b.relu6(&x, "_bn1");
    b.classifier(&x, "_fc", head.cout)?;
    // The TensorFlow-trained Lite models scale pixels to [-1, 1] as (x - 127) / 128.
    let graph = b.finish(PreprocessConfig {
        pixel_divisor: 1.0,
        mean: [127.0; 3],
        std: [128.0; 3],
        ..PreprocessConfig::imagenet()
    })?;
    Ok((graph, Arch::EfficientNetLite { blocks: n, head: head.cout }))
}
