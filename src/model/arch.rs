//! Named architectures for weight files (`convert --arch NAME`).
//!
//! The builders read the network off a state dict's names and shapes; this
//! describes what they read, so that a user who says which network the file
//! holds gets the difference spelled out when it isn't (a truncated or
//! mislabelled checkpoint), instead of a silently different model.

use crate::error::{Error, Result};

/// What a builder found in a state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arch {
    /// torchvision/timm ResNet, ResNeXt and Wide-ResNet (v1.5 strides).
    ResNet { bottleneck: bool, depths: Vec<usize>, groups: usize, width_per_group: usize },
    /// EfficientNet-Lite: blocks in all stages, and the head's channels.
    EfficientNetLite { blocks: usize, head: usize },
}

fn resnet(bottleneck: bool, depths: &[usize], groups: usize, width_per_group: usize) -> Arch {
    Arch::ResNet { bottleneck, depths: depths.to_vec(), groups, width_per_group }
}

/// The names torchvision (and timm, for the same networks) use.
fn named() -> Vec<(&'static str, Arch)> {
    const R18: [usize; 4] = [2, 2, 2, 2];
    const R34_50: [usize; 4] = [3, 4, 6, 3];
    const R101: [usize; 4] = [3, 4, 23, 3];
    const R152: [usize; 4] = [3, 8, 36, 3];
    vec![
        ("resnet18", resnet(false, &R18, 1, 64)),
        ("resnet34", resnet(false, &R34_50, 1, 64)),
        ("resnet50", resnet(true, &R34_50, 1, 64)),
        ("resnet101", resnet(true, &R101, 1, 64)),
        ("resnet152", resnet(true, &R152, 1, 64)),
        ("resnext50_32x4d", resnet(true, &R34_50, 32, 4)),
        ("resnext101_32x8d", resnet(true, &R101, 32, 8)),
        ("resnext101_64x4d", resnet(true, &R101, 64, 4)),
        ("wide_resnet50_2", resnet(true, &R34_50, 1, 128)),
        ("wide_resnet101_2", resnet(true, &R101, 1, 128)),
        ("efficientnet_lite0", Arch::EfficientNetLite { blocks: 16, head: 1280 }),
    ]
}

/// The known name of `arch`, if it has one.
pub fn name_of(arch: &Arch) -> Option<&'static str> {
    named().into_iter().find(|(_, a)| a == arch).map(|(n, _)| n)
}

/// The network called `name`.
pub fn by_name(name: &str) -> Result<Arch> {
    let known = named();
    let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
    let unknown = format!("unknown architecture {name:?}; known: {}", names.join(", "));
    known.into_iter().find(|(n, _)| *n == name).map(|(_, a)| a).ok_or(Error::InvalidInput(unknown))
}

/// Checks that the weights hold the network `name` says.
pub fn check(name: &str, found: &Arch) -> Result<()> {
    let want = &by_name(name)?;
    if want == found {
        return Ok(());
    }
    let what = match name_of(found) {
        Some(n) => format!("a {n}"),
        None => "no named architecture".to_string(),
    };
    Err(Error::ModelFormat(format!(
        "--arch {name} expects {}, but the weights hold {what}: {}",
        describe(want),
        describe(found)
    )))
}

fn describe(arch: &Arch) -> String {
    match arch {
        Arch::ResNet { bottleneck, depths, groups, width_per_group } => format!(
            "{} blocks {depths:?} per layer, {groups} group(s) of width {width_per_group}",
            if *bottleneck { "bottleneck" } else { "basic" }
        ),
        Arch::EfficientNetLite { blocks, head } => format!("EfficientNet-Lite, {blocks} blocks, {head}-channel head"),
    }
}
