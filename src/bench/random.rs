//! Seeded random weights for a named architecture, laid out as the
//! torchvision state dict the importer reads, so a benchmark needs no
//! download and runs exactly the graph a real checkpoint would give.

use crate::error::{Error, Result};
use crate::model::arch::{self, Arch};
use crate::model::state_dict::{self, StateDict, Tensor};
use crate::model::Graph;
use crate::seeded::Rng;

const CLASSES: usize = 1000;

struct Weights {
    rng: Rng,
    tensors: Vec<(String, Tensor)>,
}

impl Weights {
    fn push(&mut self, name: String, dims: Vec<usize>, data: Vec<f32>) {
        self.tensors.push((name, Tensor { dims, data }));
    }

    /// He-uniform, so activations keep their scale through ReLU layers.
    fn conv(&mut self, prefix: &str, cout: usize, cin_per_group: usize, k: usize) {
        let fan_in = cin_per_group * k * k;
        let data = self.rng.vec(cout * fan_in, (6.0 / fan_in as f32).sqrt());
        self.push(format!("{prefix}.weight"), vec![cout, cin_per_group, k, k], data);
    }

    /// Near-identity batch norm; `gain` scales a residual branch down so the
    /// sum over many blocks stays in f16's range.
    fn bn(&mut self, prefix: &str, c: usize, gain: f32) {
        let gamma = (0..c).map(|_| gain * (1.0 + self.rng.uniform(0.2))).collect();
        let beta = self.rng.vec(c, 0.1);
        let mean = self.rng.vec(c, 0.1);
        let var = (0..c).map(|_| 1.0 + self.rng.uniform(0.1)).collect();
        for (p, v) in [("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)] {
            self.push(format!("{prefix}.{p}"), vec![c], v);
        }
    }
}

/// The graph of `name` (one of `convert --arch`'s ResNet-family names) with
/// weights drawn from `seed`.
pub fn graph(name: &str, seed: u64) -> Result<Graph> {
    let Arch::ResNet { bottleneck, depths, groups, width_per_group } = arch::by_name(name)? else {
        return Err(Error::InvalidInput(format!("random weights are built for the ResNet family, not {name}")));
    };
    const RESIDUAL_GAIN: f32 = 0.3;
    let mut w = Weights { rng: Rng::new(seed), tensors: Vec::new() };
    w.conv("conv1", 64, 3, 7);
    w.bn("bn1", 64, 1.0);
    let expansion = if bottleneck { 4 } else { 1 };
    let mut cin = 64;
    for (l, &depth) in depths.iter().enumerate() {
        let planes = 64 << l;
        let cout = planes * expansion;
        for b in 0..depth {
            let p = format!("layer{}.{b}", l + 1);
            if bottleneck {
                let width = planes * width_per_group / 64 * groups;
                w.conv(&format!("{p}.conv1"), width, cin, 1);
                w.bn(&format!("{p}.bn1"), width, 1.0);
                w.conv(&format!("{p}.conv2"), width, width / groups, 3);
                w.bn(&format!("{p}.bn2"), width, 1.0);
                w.conv(&format!("{p}.conv3"), cout, width, 1);
                w.bn(&format!("{p}.bn3"), cout, RESIDUAL_GAIN);
            } else {
                w.conv(&format!("{p}.conv1"), planes, cin, 3);
                w.bn(&format!("{p}.bn1"), planes, 1.0);
                w.conv(&format!("{p}.conv2"), planes, planes, 3);
                w.bn(&format!("{p}.bn2"), planes, RESIDUAL_GAIN);
            }
            // torchvision: a projection wherever the block changes shape.
            if b == 0 && (l > 0 || cin != cout) {
                w.conv(&format!("{p}.downsample.0"), cout, cin, 1);
                w.bn(&format!("{p}.downsample.1"), cout, 1.0);
            }
            cin = cout;
        }
    }
    let fc = w.rng.vec(CLASSES * cin, (3.0 / cin as f32).sqrt());
    w.push("fc.weight".into(), vec![CLASSES, cin], fc);
    let bias = w.rng.vec(CLASSES, 0.1);
    w.push("fc.bias".into(), vec![CLASSES], bias);
    // Reading it back checks that it is the network `name` says.
    state_dict::to_graph(StateDict { tensors: w.tensors }, Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_resnet_family_name() {
        for name in ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"] {
            let g = graph(name, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(g.nodes.len() > 20, "{name}");
        }
    }

    #[test]
    fn seeded() {
        let a = graph("resnet18", 7).unwrap();
        let b = graph("resnet18", 7).unwrap();
        let c = graph("resnet18", 8).unwrap();
        let w = |g: &Graph| g.initializers["fc.weight"].clone();
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }

    #[test]
    fn other_families_are_refused() {
        assert!(matches!(graph("efficientnet_lite0", 1), Err(Error::InvalidInput(_))));
        assert!(matches!(graph("resnet7", 1), Err(Error::InvalidInput(_))));
    }
}
