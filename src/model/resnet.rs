//! torchvision/timm ResNet, ResNeXt and Wide-ResNet from their state-dict
//! names (`conv1`, `bn1`, `layerL.B.convN`, `layerL.B.downsample.{0,1}`, `fc`).
//!
//! Everything but the strides is read off the weights: basic or bottleneck
//! blocks (`conv3` present), depth (blocks per layer), width and groups (from
//! `conv2`'s weight against its input channels). Strides follow torchvision:
//! 2 at the first block of layers 2-4, on the 3x3 conv (ResNet v1.5).

use super::arch::Arch;
use super::builder::{bad, Builder, Pad, INPUT};
use super::state_dict::StateDict;
use super::Graph;
use crate::error::{Error, Result};
use crate::preprocess::PreprocessConfig;

const BN_EPS: f32 = 1e-5;

/// The network, and what it is (for `--arch`).
pub fn build(sd: StateDict) -> Result<(Graph, Arch)> {
    let mut b = Builder::new(sd)?;
    // Layer 1's first 3x3 conv is `width` wide in `groups` groups; its weight
    // is [width, width / groups, 3, 3] whatever the block type.
    let (groups, width_per_group) = match b.peek("layer1.0.conv2.weight")?.dims.as_slice() {
        &[width, per_group, ..] if per_group > 0 => (width / per_group, per_group),
        _ => (0, 0),
    };
    let mut depths = Vec::new();
    let stem = b.conv(INPUT, "conv1", 3, 2, Pad::Half)?;
    let x = b.bn(&stem.out, "bn1", stem.cout, BN_EPS)?;
    let x = b.relu(&x, "bn1");
    let mut x = b.max_pool(&x, 3, 2, 1);
    let mut c = stem.cout;
    let bottleneck = b.has("layer1.0.conv3.weight");
    let mut layer = 1;
    while b.has(&format!("layer{layer}.0.conv1.weight")) {
        let mut block = 0;
        loop {
            let p = format!("layer{layer}.{block}");
            if !b.has(&format!("{p}.conv1.weight")) {
                break;
            }
            let stride = if layer > 1 && block == 0 { 2 } else { 1 };
            let (convs, strided) = if bottleneck { (3, 2) } else { (2, 1) };
            (x, c) = residual_block(&mut b, &x, c, stride, &p, convs, strided)?;
            block += 1;
        }
        depths.push(block);
        layer += 1;
    }
    b.classifier(&x, "fc", c)?;
    // torchvision's and timm's ResNets are trained on ImageNet statistics.
    let graph = b.finish(PreprocessConfig::imagenet())?;
    Ok((graph, Arch::ResNet { bottleneck, depths, groups, width_per_group }))
}

/// The projection shortcut if the block has one; else the identity, which
/// needs the block to keep its shape.
fn shortcut(b: &mut Builder, x: &str, cin: usize, cout: usize, stride: usize, p: &str) -> Result<String> {
    let ds = format!("{p}.downsample.0");
    let wname = format!("{ds}.weight");
    if b.has(&wname) {
        let w = b.peek(&wname)?;
        if w.dims != [cout, cin, 1, 1] {
            return Err(bad(&wname, w, format!("[{cout}, {cin}, 1, 1]")));
        }
        let conv = b.conv(x, &ds, cin, stride, Pad::Half)?;
        return b.bn(&conv.out, &format!("{p}.downsample.1"), cout, BN_EPS);
    }
    if stride != 1 || cin != cout {
        return Err(Error::ModelFormat(format!(
            "missing tensor '{wname}': block {p} changes shape ({cin} -> {cout} channels, stride {stride})"
        )));
    }
    Ok(x.to_string())
}

/// A residual block of `convs` conv + BN units (`{p}.convN`, `{p}.bnN`),
/// ReLU between them, `stride` on unit `strided` (1-based); then the
/// shortcut is added and a ReLU follows. Basic blocks are two 3x3 units
/// strided on the first; bottlenecks are 1x1, 3x3 (grouped in ResNeXt: the
/// conv reads the groups off its weight), 1x1, strided on the 3x3.
fn residual_block(
    b: &mut Builder,
    x: &str,
    cin: usize,
    stride: usize,
    p: &str,
    convs: usize,
    strided: usize,
) -> Result<(String, usize)> {
    let (mut y, mut c) = (x.to_string(), cin);
    for i in 1..=convs {
        if i > 1 {
            y = b.relu(&y, p);
        }
        let conv = b.conv(&y, &format!("{p}.conv{i}"), c, if i == strided { stride } else { 1 }, Pad::Half)?;
        y = b.bn(&conv.out, &format!("{p}.bn{i}"), conv.cout, BN_EPS)?;
        c = conv.cout;
    }
    let short = shortcut(b, x, cin, c, stride, p)?;
    let sum = b.add(&y, &short, p);
    Ok((b.relu(&sum, p), c))
}
