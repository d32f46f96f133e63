//! Every op case: each step kind on odd shapes (channels and sizes that are
//! not multiples of any vector width, asymmetric padding, dilation, groups,
//! residuals separate and in place), blocking edges of the fast kernels, and
//! two small chained networks. Every backend runs every case.

use crate::build::{Builder, Rng};
use webresnet::cpu::{Winograd, WinogradVariant};
use webresnet::plan::{ActQuant, Activation, Affine, Conv, Dense, Plan, Pool, PoolKind, Step, TensorId};

pub struct Case {
    pub name: String,
    pub plan: Plan,
    pub data: Vec<f32>,
    /// Pure data movement: every backend must reproduce the reference bit for bit.
    pub exact: bool,
    /// Which 3x3 convs the CPU backends run as Winograd.
    pub winograd: Winograd,
}

/// All cases, each once (shapes listed twice collapse by name).
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(conv_cases().into_iter().map(ConvSpec::case));
    cases.extend(pool_cases().into_iter().map(PoolSpec::case));
    cases.extend(other_cases());
    cases.extend(pooled_head_cases());
    cases.extend(nchw_stem_cases());
    cases.push(tiny_network());
    cases.push(chained_network());
    let mut seen = std::collections::HashSet::new();
    cases.retain(|c| seen.insert(c.name.clone()));
    cases
}

const RELU6: Activation = Activation::Clip { min: 0.0, max: 6.0 };
const ACTS: [Activation; 3] = [Activation::None, Activation::Relu, RELU6];
/// Clip bounds that cut both tails of the data.
const ACTS_NARROW: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Clip { min: -0.5, max: 1.5 }];

fn out_size(size: usize, k: usize, s: usize, before: usize, after: usize, d: usize, ceil: bool) -> usize {
    let span = size + before + after - (d * (k - 1) + 1);
    if ceil {
        span.div_ceil(s) + 1
    } else {
        span / s + 1
    }
}

// ---------------------------------------------------------------- Conv

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Res {
    None,
    Separate,
    InPlace,
}

#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    n: usize,
    hw: [usize; 2],
    /// `[in, out]` channels.
    c: [usize; 2],
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    d: [usize; 2],
    groups: usize,
    act: Activation,
    res: Res,
    winograd: Winograd,
    /// Weights on an int8 grid, marked int8 (the CPU's int8 kernels).
    int8: bool,
    /// The input's grid fixed by the model (as a QDQ pair does): 256 codes
    /// spanning the input's range and 0.
    fixed: bool,
}

/// A square-kernel case; chain the setters for the rest.
fn conv(n: usize, hw: [usize; 2], c: [usize; 2], k: usize, s: usize, pad: [usize; 4]) -> ConvSpec {
    let (act, res, winograd) = (Activation::None, Res::None, Winograd::Auto);
    ConvSpec {
        n,
        hw,
        c,
        k: [k, k],
        s: [s, s],
        pad,
        d: [1, 1],
        groups: 1,
        act,
        res,
        winograd,
        int8: false,
        fixed: false,
    }
}

impl ConvSpec {
    fn dil(self, d: usize) -> Self {
        ConvSpec { d: [d, d], ..self }
    }
    fn groups(self, groups: usize) -> Self {
        ConvSpec { groups, ..self }
    }
    fn act(self, act: Activation) -> Self {
        ConvSpec { act, ..self }
    }
    fn res(self, res: Res) -> Self {
        ConvSpec { res, ..self }
    }
    fn winograd(self, v: WinogradVariant) -> Self {
        ConvSpec { winograd: Winograd::Every(v), ..self }
    }
    fn int8(self) -> Self {
        ConvSpec { int8: true, ..self }
    }
    /// No Winograd, where the CPU would otherwise choose it.
    fn direct(self) -> Self {
        ConvSpec { winograd: Winograd::Never, ..self }
    }
    fn fixed(self) -> Self {
        ConvSpec { fixed: true, ..self }
    }

    fn out_shape(&self) -> [usize; 4] {
        let oh = out_size(self.hw[0], self.k[0], self.s[0], self.pad[0], self.pad[2], self.d[0], false);
        let ow = out_size(self.hw[1], self.k[1], self.s[1], self.pad[1], self.pad[3], self.d[1], false);
        [self.n, oh, ow, self.c[1]]
    }

    fn weight_len(&self) -> usize {
        self.c[1] * self.k[0] * self.k[1] * self.c[0] / self.groups
    }

    fn step(&self, input: usize, output: usize, residual: Option<usize>, weight: Vec<f32>, bias: Vec<f32>) -> Step {
        Step::Conv(Conv {
            input,
            output,
            residual,
            in_channels: self.c[0],
            out_channels: self.c[1],
            kernel: self.k,
            stride: self.s,
            pad: self.pad,
            dilation: self.d,
            groups: self.groups,
            weight,
            bias,
            activation: self.act,
            int8: self.int8,
            input_quant: None,
            requant: None,
        })
    }

    pub(crate) fn case(self) -> Case {
        let mut name = format!(
            "conv n{} {:?} {}->{} k{:?} s{:?} pad{:?} d{:?} g{} {:?} residual {:?}",
            self.n, self.hw, self.c[0], self.c[1], self.k, self.s, self.pad, self.d, self.groups, self.act, self.res
        );
        match self.winograd {
            Winograd::Every(v) => name += &format!(" winograd {v:?}"),
            Winograd::Never => name += " direct",
            Winograd::Auto => {}
        }
        if self.int8 {
            name += " int8";
        }
        if self.fixed {
            name += " fixed grid";
        }
        let mut rng = Rng::from_name(&name);
        let os = self.out_shape();
        let mut b = Builder::default();
        let x = rng.vec(self.n * self.hw[0] * self.hw[1] * self.c[0], 2.0);
        let input_quant = self.fixed.then(|| {
            let (lo, hi) = x.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let scale = (hi - lo) / 255.0;
            ActQuant { scale, zero: (-lo / scale).round() as u8 }
        });
        let input = b.input(&[self.n, self.hw[0], self.hw[1], self.c[0]], x);
        let (residual, output) = match self.res {
            Res::None => (None, b.tensor(&os)),
            Res::Separate => (Some(b.input(&os, rng.vec(os.iter().product(), 2.0))), b.tensor(&os)),
            Res::InPlace => {
                let r = b.input(&os, rng.vec(os.iter().product(), 2.0));
                (Some(r), b.alias(r))
            }
        };
        let weight = if self.int8 {
            int8_grid(&mut rng, self.c[1], self.weight_len() / self.c[1])
        } else {
            // Scaled as trained networks' weights are, so sums stay near 1
            // whatever K: a narrow activation then clips some outputs and
            // passes others, and each backend's rounding is measured against
            // outputs of the size its sums have.
            let k = self.weight_len() / self.c[1];
            rng.vec(self.weight_len(), 1.0 / (k as f32).sqrt())
        };
        let mut step = self.step(input, output, residual, weight, rng.vec(self.c[1], 1.0));
        if let Step::Conv(c) = &mut step {
            c.input_quant = input_quant;
        }
        let (plan, data) = b.plan(vec![step], output);
        Case { name, plan, data, exact: false, winograd: self.winograd }
    }
}

/// Each spec with no residual, a separate one and one updated in place;
/// the activation rotates through `acts`.
fn with_residuals(specs: &[ConvSpec], acts: [Activation; 3]) -> Vec<ConvSpec> {
    let modes = [Res::None, Res::Separate, Res::InPlace];
    let each = specs.iter().enumerate();
    each.flat_map(|(i, s)| modes.iter().enumerate().map(move |(j, &r)| s.res(r).act(acts[(i + j) % 3]))).collect()
}

fn conv_cases() -> Vec<ConvSpec> {
    let mut v = Vec::new();
    // General KxK: strides, asymmetric padding, dilation, a 7x7, 1x1 with padding
    // (not the pointwise path), more than one im2col scratch chunk.
    v.extend(with_residuals(
        &[
            conv(1, [7, 9], [5, 7], 3, 1, [1; 4]),
            conv(2, [11, 5], [3, 13], 3, 2, [1; 4]),
            conv(2, [7, 9], [7, 5], 3, 2, [0, 0, 1, 1]),
            conv(1, [11, 5], [5, 3], 3, 1, [2, 0, 1, 3]),
            conv(2, [9, 7], [3, 5], 3, 1, [2; 4]).dil(2),
            conv(1, [11, 9], [5, 7], 3, 2, [1, 2, 0, 1]).dil(2),
            conv(2, [11, 9], [3, 5], 7, 2, [3; 4]),
            conv(1, [5, 7], [4, 4], 5, 1, [0; 4]),
            conv(1, [5, 7], [5, 3], 1, 1, [1, 0, 0, 2]),
            conv(1, [40, 40], [64, 5], 3, 1, [1; 4]),
        ],
        ACTS,
    ));
    // Rectangular kernels, strides and dilations.
    let rect = conv(2, [7, 9], [5, 3], 1, 1, [0, 1, 0, 1]);
    v.push(ConvSpec { k: [1, 3], s: [1, 2], d: [1, 2], ..rect }.res(Res::Separate).act(Activation::Relu));
    v.push(ConvSpec { k: [3, 1], s: [2, 1], ..rect }.res(Res::InPlace));
    // Grouped; depthwise with channel multiplier 2 (grouped GEMM, not the depthwise kernel).
    v.extend(with_residuals(
        &[
            conv(1, [7, 9], [6, 10], 3, 1, [1; 4]).groups(2),
            conv(2, [11, 5], [9, 6], 3, 2, [1, 0, 1, 2]).groups(3),
            conv(1, [9, 7], [6, 9], 3, 1, [2; 4]).dil(2).groups(3),
            conv(2, [7, 9], [10, 4], 1, 1, [0; 4]).groups(2),
            conv(1, [11, 5], [9, 15], 1, 2, [0; 4]).groups(3),
            conv(1, [7, 9], [5, 10], 3, 1, [1; 4]).groups(5),
        ],
        ACTS,
    ));
    // Depthwise; the last two have enough output pixels to be split over threads, unevenly.
    v.extend(with_residuals(
        &[
            conv(1, [7, 9], [13, 13], 3, 1, [1; 4]).groups(13),
            conv(2, [11, 5], [7, 7], 3, 2, [1; 4]).groups(7),
            conv(1, [11, 9], [5, 5], 3, 2, [0, 0, 1, 1]).groups(5),
            conv(2, [9, 7], [3, 3], 3, 1, [2; 4]).dil(2).groups(3),
            conv(1, [11, 9], [13, 13], 5, 2, [2, 1, 2, 3]).groups(13),
            conv(1, [7, 27], [9, 9], 5, 2, [2; 4]).groups(9),
            conv(2, [23, 17], [13, 13], 3, 2, [1; 4]).groups(13),
            conv(1, [31, 29], [21, 21], 5, 1, [2, 1, 2, 3]).groups(21),
        ],
        ACTS,
    ));
    // Pointwise; the last has more rows than one epilogue chunk.
    v.extend(with_residuals(
        &[
            conv(2, [7, 9], [13, 7], 1, 1, [0; 4]),
            conv(1, [11, 5], [5, 13], 1, 2, [0; 4]),
            conv(2, [7, 9], [3, 5], 1, 2, [0; 4]),
            conv(1, [9, 7], [7, 3], 1, 3, [0; 4]),
            conv(1, [20, 21], [13, 7], 1, 1, [0; 4]),
        ],
        ACTS,
    ));
    v.extend(simd_conv_cases());
    v.extend(int8_conv_cases());
    v.extend(gpu_conv_cases());
    v.extend(winograd_cases());
    v.extend(gpu_tiling_cases());
    v
}

/// `n` rows of `k` weights as an int8 model file stores them: codes in
/// -127..=127, each row reaching ±127, times a scale per row.
fn int8_grid(rng: &mut Rng, n: usize, k: usize) -> Vec<f32> {
    let mut w = Vec::with_capacity(n * k);
    for _ in 0..n {
        let scale = (0.75 + rng.uniform(0.25)) / 127.0;
        let mut codes: Vec<f32> = (0..k).map(|_| rng.uniform(127.0).round()).collect();
        let at = ((rng.uniform(0.5) + 0.5) * k as f32) as usize % k;
        codes[at] = if rng.uniform(1.0) < 0.0 { -127.0 } else { 127.0 };
        w.extend(codes.iter().map(|q| q * scale));
    }
    w
}

/// int8 convs: channels not multiples of 4 or 16, batch 2, residuals, the
/// in-place 1x1 path and gathered taps, strides, padding, stems (batch 2
/// too), dilation, more pixels than one thread's piece, deep K; a grouped
/// int8 conv, which runs on the f32 kernels; inputs on a grid the model
/// fixed (8-bit codes, which the relaxed build runs on its i16 dot
/// product); 3x3 stride-1 convs forced onto the exact Winograd and onto the
/// direct kernels.
fn int8_conv_cases() -> Vec<ConvSpec> {
    let specs = [
        conv(2, [7, 9], [5, 7], 3, 1, [1; 4]),
        conv(1, [11, 5], [3, 13], 3, 2, [1, 0, 1, 2]),
        conv(2, [7, 9], [13, 7], 1, 1, [0; 4]),
        conv(1, [11, 5], [5, 13], 1, 2, [0; 4]),
        conv(1, [23, 21], [3, 17], 7, 2, [3; 4]),
        conv(2, [13, 10], [3, 9], 5, 2, [2, 1, 2, 2]),
        conv(1, [12, 11], [5, 6], 3, 1, [2; 4]).dil(2),
        conv(1, [20, 21], [17, 33], 3, 1, [1; 4]),
        conv(1, [9, 7], [100, 9], 3, 1, [1; 4]),
        conv(1, [3, 5], [1100, 9], 1, 1, [0; 4]),
        conv(1, [9, 7], [6, 9], 3, 1, [1; 4]).groups(3),
    ];
    // A grid the model fixed: 8-bit codes in every build.
    let fixed = [
        conv(2, [7, 9], [5, 7], 3, 1, [1; 4]),
        conv(2, [7, 9], [13, 7], 1, 1, [0; 4]),
        conv(1, [11, 5], [16, 13], 1, 2, [0; 4]),
        conv(1, [9, 7], [100, 9], 3, 1, [1; 4]),
    ];
    // On the exact int8 Winograd: odd sides, both paddings and an
    // asymmetric one, batch 2, channels not multiples of 8, more tile rows
    // than one thread's piece, deep K; and a fixed grid.
    let winograd_specs = [
        conv(2, [7, 9], [5, 7], 3, 1, [1; 4]),
        conv(1, [8, 11], [13, 9], 3, 1, [0; 4]),
        conv(1, [6, 7], [8, 12], 3, 1, [1, 0, 2, 1]),
        conv(1, [20, 21], [17, 33], 3, 1, [1; 4]),
        conv(1, [5, 6], [1100, 9], 3, 1, [1; 4]),
    ];
    let winograd = |s: ConvSpec| s.int8().winograd(WinogradVariant::F2);
    let mut v = with_residuals(&specs.map(ConvSpec::int8), ACTS_NARROW);
    v.extend(with_residuals(&fixed.map(|s| s.int8().fixed()), ACTS_NARROW));
    v.extend(with_residuals(&winograd_specs.map(winograd), ACTS_NARROW));
    v.extend(with_residuals(&[winograd(conv(2, [7, 9], [5, 7], 3, 1, [1; 4])).fixed()], ACTS_NARROW));
    // The direct kernels on shapes the CPU takes Winograd for.
    let direct =
        [conv(1, [20, 21], [17, 33], 3, 1, [1; 4]).int8(), conv(1, [9, 7], [100, 9], 3, 1, [1; 4]).int8().fixed()];
    v.extend(with_residuals(&direct.map(ConvSpec::direct), ACTS_NARROW));
    v
}

/// int8 dense layers: batch 2, features not multiples of 4 or 16.
fn int8_dense_cases() -> Vec<Case> {
    let shapes: [(&[usize], usize, Activation); 4] = [
        (&[2, 13], 7, Activation::None),
        (&[3, 37], 19, Activation::Relu),
        (&[1, 2049], 101, RELU6),
        (&[2, 64], 5, ACTS_NARROW[2]),
    ];
    shapes.into_iter().map(|(shape, out_f, act)| dense_case(shape, out_f, act, true)).collect()
}

/// A dense layer over `shape` (features last) to `out_f`, with int8-grid
/// weights where `int8`.
fn dense_case(shape: &'static [usize], out_f: usize, act: Activation, int8: bool) -> Case {
    let tag = if int8 { " int8" } else { "" };
    single(format!("dense {shape:?} -> {out_f} {act:?}{tag}"), false, move |b, r| {
        let in_f = *shape.last().unwrap();
        let x = r.vec(shape.iter().product(), 2.0);
        let rows = x.len() / in_f;
        let input = b.input(shape, x);
        let output = b.tensor(&[rows, out_f]);
        let weight = if int8 { int8_grid(r, out_f, in_f) } else { r.vec(in_f * out_f, 1.0) };
        let bias = r.vec(out_f, 1.0);
        let d = Dense {
            input,
            output,
            in_features: in_f,
            out_features: out_f,
            weight,
            bias,
            activation: act,
            int8,
            input_quant: None,
            requant: None,
        };
        (Step::Dense(d), output)
    })
}

/// Every Winograd variant forced on the 3x3 convs of its stride whatever
/// the cost model would pick: H and W not multiples of either tile (odd
/// and even at stride 2), padding 0, 1 and uneven, channels not multiples
/// of 4, batch 2, residuals.
fn winograd_cases() -> Vec<ConvSpec> {
    let specs = |s| {
        [
            conv(1, [7, 9], [5, 7], 3, s, [1; 4]),
            conv(2, [10, 11], [6, 13], 3, s, [0; 4]),
            conv(1, [13, 6], [17, 9], 3, s, [1; 4]),
            conv(2, [9, 7], [3, 5], 3, s, [0, 1, 1, 0]),
        ]
    };
    [WinogradVariant::F2, WinogradVariant::F4, WinogradVariant::S2]
        .into_iter()
        .flat_map(|v| with_residuals(&specs(v.stride()).map(|s| s.winograd(v)), ACTS_NARROW))
        .collect()
}

/// Edges of the SIMD128 kernels: channels not a multiple of 4, output columns
/// not a multiple of the 8-wide panel, row and K blocking, depthwise widths.
fn simd_conv_cases() -> Vec<ConvSpec> {
    let sq = |hw, c, k, s, p| conv(1, hw, c, k, s, [p; 4]);
    let mut v = with_residuals(
        &[
            sq([7, 9], [5, 7], 3, 1, 1),
            sq([11, 9], [3, 13], 3, 2, 1),
            sq([13, 11], [3, 64], 7, 2, 3),
            ConvSpec { n: 2, ..sq([9, 7], [6, 10], 3, 1, 2) },
            sq([11, 9], [5, 9], 3, 2, 2).dil(2),
            // Short taps gathered into rows, over several row blocks (96 rows each).
            sq([21, 19], [3, 10], 3, 1, 1),
            // More rows than one row block and several K blocks (K = 9 * 100).
            sq([15, 13], [100, 17], 3, 1, 1),
            // The same K blocks of whole taps with A packed (N at least K).
            sq([7, 5], [100, 517], 3, 1, 1),
            // A last tile of one row (49 rows) across panels 2 + 1, A read per tap.
            sq([7, 7], [5, 20], 3, 1, 1),
        ],
        ACTS_NARROW,
    );
    v.extend(with_residuals(
        &[
            sq([7, 9], [5, 3], 1, 1, 0),
            sq([11, 9], [7, 12], 1, 2, 0),
            sq([5, 7], [5, 3], 1, 1, 1),
            // K split into blocks inside one segment (1100 channels).
            sq([3, 5], [1100, 9], 1, 1, 0),
            ConvSpec { n: 3, ..sq([4, 3], [6, 20], 1, 1, 0) },
            // A packed (N at least K), K not a multiple of 4, rows over
            // three row blocks and a partial tile, batch 2.
            ConvSpec { n: 2, ..sq([11, 13], [13, 37], 1, 1, 0) },
            // Packed, K split inside one segment.
            sq([3, 5], [600, 610], 1, 1, 0),
            // A last tile of one row across panels 4 + 1, the last partial;
            // then over K blocks (25 rows, 1030 channels).
            sq([7, 7], [13, 37], 1, 1, 0),
            sq([5, 5], [1030, 21], 1, 1, 0),
        ],
        ACTS_NARROW,
    ));
    v.extend(with_residuals(
        &[
            sq([7, 9], [6, 10], 3, 1, 1).groups(2),
            sq([9, 7], [9, 15], 3, 2, 1).groups(3),
            sq([5, 5], [8, 4], 1, 2, 0).groups(4),
            // Depthwise: channel counts hitting the 16-, 4- and 1-wide paths.
            sq([9, 11], [7, 7], 3, 1, 1).groups(7),
            sq([11, 9], [35, 35], 3, 2, 1).groups(35),
            sq([8, 8], [20, 20], 5, 2, 2).groups(20),
            sq([9, 9], [13, 13], 3, 1, 2).dil(2).groups(13),
        ],
        ACTS_NARROW,
    ));
    v
}

/// Edges of the GPU kernels: vec4 channel paths, whole output tiles, the
/// ResNet stem, and the ResNet-50 stage shapes.
fn gpu_conv_cases() -> Vec<ConvSpec> {
    use Activation::Relu;
    let base = conv(1, [9, 11], [5, 7], 3, 1, [1; 4]);
    let clip = |min, max| Activation::Clip { min, max };
    let dw = |c, k, s, pad, res, act| conv(2, [9, 11], [c, c], k, s, pad).groups(c).res(res).act(act);
    let pw = |ic, oc, s| conv(1, [9, 7], [ic, oc], 1, s, [0; 4]);
    let block = conv(2, [9, 11], [8, 8], 3, 1, [1; 4]).act(Relu);
    let tile = conv(1, [28, 28], [64, 64], 3, 1, [1; 4]).act(Relu);
    let stage1 = conv(1, [56, 56], [64, 64], 3, 1, [1; 4]).act(Relu);
    vec![
        base,
        conv(1, [13, 11], [13, 3], 3, 2, [0, 1, 1, 0]).act(clip(-0.5, 0.7)),
        ConvSpec { k: [5, 3], s: [2, 1], pad: [2, 0, 1, 1], c: [7, 5], ..base }.act(Relu),
        conv(1, [10, 9], [8, 12], 3, 1, [2; 4]).dil(2),
        ConvSpec { c: [3, 5], pad: [2, 1, 1, 0], d: [2, 1], ..base }.act(Relu),
        conv(1, [15, 15], [16, 20], 3, 2, [1; 4]),
        ConvSpec { c: [6, 10], ..base }.groups(2),
        ConvSpec { c: [12, 9], s: [2, 2], ..base }.groups(3).act(Relu),
        ConvSpec { c: [16, 16], ..base }.groups(2).res(Res::Separate),
        ConvSpec { c: [5, 10], ..base }.groups(5),
        dw(13, 3, 2, [1; 4], Res::None, Relu),
        dw(16, 5, 1, [2; 4], Res::None, RELU6),
        dw(12, 3, 2, [0, 0, 1, 1], Res::Separate, Activation::None),
        dw(7, 3, 1, [1; 4], Res::InPlace, Relu),
        pw(64, 24, 1),
        pw(64, 24, 2),
        pw(7, 5, 1),
        pw(13, 3, 2),
        pw(32, 16, 1).res(Res::Separate).act(Relu),
        ConvSpec { n: 2, ..pw(8, 12, 1) }.res(Res::InPlace),
        ConvSpec { pad: [1, 0, 0, 1], ..pw(8, 8, 1) },
        conv(2, [23, 21], [3, 64], 7, 2, [3; 4]).act(Relu),
        block.res(Res::Separate),
        block.res(Res::InPlace),
        ConvSpec { c: [5, 7], ..block }.res(Res::InPlace),
        tile.res(Res::Separate),
        ConvSpec { c: [64, 80], s: [2, 2], ..tile },
        stage1,
        ConvSpec { c: [64, 256], k: [1, 1], pad: [0; 4], ..stage1 },
        conv(1, [224, 224], [3, 64], 7, 2, [3; 4]).act(Relu),
        conv(1, [112, 112], [32, 32], 3, 1, [1; 4]).groups(32).act(Relu),
    ]
}

/// The GPU conv's per-layer tilings (`specific.rs` checks each is chosen):
/// split-K over deep K with few output tiles, through the scalar, vec4 and
/// pointwise gathers, grouped, with residuals; the small tile alone; the
/// large tile, which needs many output tiles.
pub fn gpu_tiling_cases() -> Vec<ConvSpec> {
    let mut v = with_residuals(
        &[
            conv(1, [5, 7], [61, 45], 3, 1, [1; 4]),
            conv(1, [4, 5], [132, 70], 3, 2, [1, 0, 1, 2]),
            conv(1, [3, 5], [516, 70], 1, 1, [0; 4]),
            conv(1, [3, 5], [521, 37], 1, 1, [0; 4]),
            conv(1, [5, 5], [1026, 18], 1, 1, [0; 4]).groups(2),
        ],
        ACTS,
    );
    v.push(conv(2, [6, 5], [20, 30], 3, 1, [1; 4]).act(Activation::Relu));
    v.push(conv(1, [33, 33], [5, 1001], 3, 1, [1; 4]).res(Res::InPlace));
    v
}

// ---------------------------------------------------------------- Pool

#[derive(Clone, Copy, Debug)]
struct PoolSpec {
    n: usize,
    hw: [usize; 2],
    c: usize,
    kind: PoolKind,
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    d: [usize; 2],
    ceil: bool,
}

impl PoolSpec {
    fn case(self) -> Case {
        let name = format!("{self:?}");
        let mut rng = Rng::from_name(&name);
        let oh = out_size(self.hw[0], self.k[0], self.s[0], self.pad[0], self.pad[2], self.d[0], self.ceil);
        let ow = out_size(self.hw[1], self.k[1], self.s[1], self.pad[1], self.pad[3], self.d[1], self.ceil);
        let mut b = Builder::default();
        let input =
            b.input(&[self.n, self.hw[0], self.hw[1], self.c], rng.vec(self.n * self.hw[0] * self.hw[1] * self.c, 2.0));
        let output = b.tensor(&[self.n, oh, ow, self.c]);
        let step = Step::Pool(Pool {
            input,
            output,
            kind: self.kind,
            kernel: self.k,
            stride: self.s,
            pad: self.pad,
            dilation: self.d,
        });
        let (plan, data) = b.plan(vec![step], output);
        Case { name, plan, data, exact: false, winograd: Winograd::Auto }
    }
}

/// (kernel, pad, dilation, ceil mode, [h, w]), stride 2.
type PoolGeom = (usize, [usize; 4], usize, bool, [usize; 2]);

fn pool_cases() -> Vec<PoolSpec> {
    const MAX: PoolKind = PoolKind::Max;
    const AVG: PoolKind = PoolKind::Avg { count_include_pad: false };
    const AVG_PAD: PoolKind = PoolKind::Avg { count_include_pad: true };
    let geoms: [PoolGeom; 7] = [
        (3, [1; 4], 1, false, [11, 5]),
        (3, [0; 4], 1, true, [8, 8]),
        (3, [1; 4], 1, true, [11, 9]),
        (2, [0; 4], 1, true, [7, 9]),
        (3, [0, 1, 2, 0], 1, false, [7, 9]),
        (3, [1, 0, 1, 1], 2, true, [11, 9]),
        (5, [2; 4], 1, false, [7, 9]),
    ];
    let mut v = Vec::new();
    for kind in [MAX, AVG, AVG_PAD] {
        for (i, &(k, pad, d, ceil, hw)) in geoms.iter().enumerate() {
            let c = [3, 5, 7, 13][i % 4];
            v.push(PoolSpec { n: 1 + i % 2, hw, c, kind, k: [k, k], s: [2, 2], pad, d: [d, d], ceil });
        }
        let rect =
            PoolSpec { n: 2, hw: [7, 9], c: 5, kind, k: [2, 3], s: [1, 2], pad: [0, 1, 1, 1], d: [1, 1], ceil: true };
        v.push(rect);
    }
    let sq =
        |n, hw, c, kind, k, s, pad, d, ceil| PoolSpec { n, hw, c, kind, k: [k, k], s: [s, s], pad, d: [d, d], ceil };
    v.extend([
        sq(2, [9, 9], 5, MAX, 3, 2, [1; 4], 1, false),
        sq(1, [11, 10], 7, MAX, 3, 1, [0, 1, 2, 0], 2, false),
        sq(2, [8, 7], 13, AVG, 3, 2, [0, 1, 1, 0], 1, false),
        sq(1, [8, 7], 3, AVG_PAD, 3, 2, [1; 4], 1, false),
        // In ceil mode the last window reaches past the padded extent and is clipped to it.
        sq(1, [9, 9], 4, AVG_PAD, 3, 2, [1, 1, 0, 0], 1, true),
        sq(1, [9, 9], 4, MAX, 3, 2, [1, 1, 0, 0], 1, true),
        // Channels in 16-wide chunks, with and without a remainder.
        sq(2, [9, 7], 37, MAX, 3, 2, [1; 4], 1, false),
        sq(1, [8, 9], 16, AVG, 3, 2, [0, 1, 1, 0], 1, true),
        sq(1, [7, 7], 21, AVG_PAD, 3, 2, [1; 4], 1, false),
    ]);
    v
}

// ---------------------------------------------------------------- single steps without windows

/// A case with one step over fresh operands; `build` creates them and returns (step, output).
fn single(name: String, exact: bool, build: impl FnOnce(&mut Builder, &mut Rng) -> (Step, usize)) -> Case {
    let mut rng = Rng::from_name(&name);
    let mut b = Builder::default();
    let (step, output) = build(&mut b, &mut rng);
    let (plan, data) = b.plan(vec![step], output);
    Case { name, plan, data, exact, winograd: Winograd::Auto }
}

/// (shape, (before, after) per dimension, value)
type PadCase = (&'static [usize], &'static [(usize, usize)], f32);

fn other_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for shape in [[2, 7, 9, 13], [2, 7, 5, 13]] {
        v.push(single(format!("global avg pool {shape:?}"), false, |b, r| {
            let input = b.input(&shape, r.vec(shape.iter().product(), 2.0));
            let output = b.tensor(&[shape[0], 1, 1, shape[3]]);
            (Step::GlobalAvgPool { input, output }, output)
        }));
    }
    let dense: [(&[usize], usize, Activation); 8] = [
        (&[2, 13], 7, Activation::None),
        (&[2, 1, 1, 13], 5, Activation::Relu),
        (&[3, 5], 1, RELU6),
        (&[2, 13], 7, Activation::Relu),
        (&[1, 64], 1000, Activation::None),
        // SIMD blocking edges: K and N past whole panels.
        (&[1, 2049], 1001, ACTS_NARROW[0]),
        (&[3, 7], 5, ACTS_NARROW[1]),
        (&[5, 600], 13, ACTS_NARROW[2]),
    ];
    v.extend(dense.into_iter().map(|(shape, out_f, act)| dense_case(shape, out_f, act, false)));
    v.extend(int8_dense_cases());
    // (shape, scale length, shift length, activation): per channel or broadcast.
    let affine: [([usize; 4], usize, usize, Activation); 5] = [
        ([2, 7, 9, 5], 5, 5, Activation::None),
        ([2, 7, 9, 5], 1, 1, Activation::Relu),
        ([2, 7, 9, 5], 5, 5, RELU6),
        ([2, 3, 7, 5], 5, 5, Activation::None),
        ([2, 3, 7, 5], 1, 5, Activation::Clip { min: -0.2, max: 0.4 }),
    ];
    for (shape, scale_n, shift_n, act) in affine {
        v.push(single(format!("affine {shape:?} scale {scale_n} shift {shift_n} {act:?}"), false, |b, r| {
            let input = b.input(&shape, r.vec(shape.iter().product(), 4.0));
            let output = b.tensor(&shape);
            let (scale, shift) = (r.vec(scale_n, 3.0), r.vec(shift_n, 3.0));
            (Step::Affine(Affine { input, output, channels: 5, scale, shift, activation: act }), output)
        }));
    }
    let add: [(&[usize], Activation, &str); 5] = [
        (&[2, 11, 5, 3], ACTS[0], "separate"),
        (&[2, 11, 5, 3], ACTS[1], "separate"),
        (&[2, 11, 5, 3], ACTS[2], "separate"),
        (&[5, 7], Activation::None, "x + x"),
        (&[1, 5, 3, 13], Activation::None, "in place"),
    ];
    for (shape, activation, how) in add {
        v.push(single(format!("add {shape:?} {activation:?} {how}"), false, |b, r| {
            let n = shape.iter().product();
            let a = b.input(shape, r.vec(n, 4.0));
            let (b_op, output) = match how {
                "x + x" => (a, b.tensor(shape)),
                "in place" => (b.input(shape, r.vec(n, 4.0)), a),
                _ => (b.input(shape, r.vec(n, 4.0)), b.tensor(shape)),
            };
            (Step::Add { a, b: b_op, output, activation }, output)
        }));
    }
    v.push(single("softmax [3, 13] large magnitudes".into(), false, |b, r| {
        let (rows, dim) = (3, 13);
        // A naive exp would overflow to inf.
        let mut x = r.vec(rows * dim, 5.0);
        x[0] = 1000.0;
        x[dim + 1] = -1000.0;
        x.iter_mut().skip(2 * dim).for_each(|v| *v += 200.0);
        let input = b.input(&[rows, dim], x);
        let output = b.tensor(&[rows, dim]);
        (Step::Softmax { input, output }, output)
    }));
    for (shape, in_place) in [(&[3usize, 1000][..], false), (&[2, 1, 1, 5], true)] {
        v.push(single(format!("softmax {shape:?} in place {in_place}"), false, |b, r| {
            let input = b.input(shape, r.vec(shape.iter().product(), 8.0));
            let output = if in_place { input } else { b.tensor(shape) };
            (Step::Softmax { input, output }, output)
        }));
    }
    let permute: [(&[usize], &[usize]); 9] = [
        (&[2, 3, 5, 7], &[0, 2, 3, 1]),
        (&[1, 5, 4, 6], &[0, 2, 3, 1]),
        (&[3, 4, 5], &[0, 2, 1]),
        (&[2, 1, 3, 2, 5], &[0, 2, 3, 4, 1]),
        (&[2, 5, 7, 3], &[0, 3, 1, 2]),
        (&[3, 5, 7], &[1, 0, 2]),
        (&[2, 3, 1, 5, 7], &[4, 2, 0, 3, 1]),
        (&[13], &[0]),
        (&[3, 4, 5], &[2, 0, 1]),
    ];
    for (in_shape, perm) in permute {
        v.push(single(format!("permute {in_shape:?} by {perm:?}"), true, |b, r| {
            let n = in_shape.iter().product();
            let input = b.input(&[n], r.vec(n, 1.0));
            let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
            let output = b.tensor(&out_shape);
            (Step::Permute { input, output, in_shape: in_shape.to_vec(), perm: perm.to_vec() }, output)
        }));
    }
    let pad: [PadCase; 5] = [
        (&[2, 5, 7, 3], &[(0, 0), (1, 2), (0, 3), (0, 0)], -1.5),
        (&[2, 5, 7, 3], &[(1, 0), (0, 0), (2, 1), (1, 2)], -1.5),
        (&[5, 7], &[(0, 1), (3, 0)], -1.5),
        (&[1, 5, 4, 3], &[(0, 0), (1, 2), (0, 1), (0, 0)], -1.0),
        (&[3, 7], &[(2, 0), (1, 3)], 0.5),
    ];
    for (shape, pads, value) in pad {
        v.push(single(format!("pad {shape:?} by {pads:?} with {value}"), true, |b, r| {
            let input = b.input(shape, r.vec(shape.iter().product(), 1.0));
            let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
            let output = b.tensor(&out_shape);
            (Step::Pad { input, output, pads: pads.to_vec(), value }, output)
        }));
    }
    v
}

// ---------------------------------------------------------------- two-step patterns the GPU runs as one

/// Global average pooling then a dense layer over a view of its output (as
/// Flatten leaves it), which the GPU head runs as one dispatch: K below,
/// past and not a multiple of its workgroup, one cell to thousands per
/// channel, batch 1 to 3, outputs not a multiple of any per-workgroup count.
fn pooled_head_cases() -> Vec<Case> {
    let shapes: [([usize; 4], usize, Activation); 5] = [
        ([2, 7, 9, 13], 7, Activation::Relu),
        ([3, 1, 1, 70], 5, Activation::None),
        ([2, 48, 64, 5], 9, ACTS_NARROW[2]),
        ([2, 3, 3, 2049], 1001, Activation::None),
        ([1, 7, 7, 130], 1, RELU6),
    ];
    shapes
        .into_iter()
        .map(|(shape, out_f, act)| {
            let name = format!("pooled head {shape:?} -> {out_f} {act:?}");
            let mut rng = Rng::from_name(&name);
            let mut b = Builder::default();
            let [n, _, _, c] = shape;
            let map = b.input(&shape, rng.vec(shape.iter().product(), 2.0));
            let pooled = b.tensor(&[n, 1, 1, c]);
            let flat = b.tensor_at(&[n, c], b.tensors[pooled].offset);
            let output = b.tensor(&[n, out_f]);
            let (weight, bias) = (rng.vec(c * out_f, 1.0), rng.vec(out_f, 1.0));
            let d = Dense {
                input: flat,
                output,
                in_features: c,
                out_features: out_f,
                weight,
                bias,
                activation: act,
                int8: false,
                input_quant: None,
                requant: None,
            };
            let (plan, data) = b.plan(vec![Step::GlobalAvgPool { input: map, output: pooled }, Step::Dense(d)], output);
            Case { name, plan, data, exact: false, winograd: Winograd::Auto }
        })
        .collect()
}

/// An NCHW input permuted to NHWC for a conv that gathers one element at
/// a time, which the GPU reads in place of the permute: a stem, a grouped
/// conv with odd channels per group, a dilated one that splits K.
fn nchw_stem_cases() -> Vec<Case> {
    let specs = [
        conv(2, [11, 9], [3, 8], 3, 2, [1; 4]).act(Activation::Relu),
        conv(1, [13, 10], [6, 10], 3, 1, [0, 1, 2, 1]).groups(2),
        conv(2, [23, 21], [11, 33], 7, 2, [3; 4]).dil(2),
        conv(1, [9, 9], [1, 4], 5, 1, [2; 4]).act(RELU6),
    ];
    specs
        .into_iter()
        .map(|spec| {
            let name = format!("nchw stem {spec:?}");
            let mut rng = Rng::from_name(&name);
            let mut b = Builder::default();
            let [h, w] = spec.hw;
            let nchw = [spec.n, spec.c[0], h, w];
            let x = b.input(&nchw, rng.vec(nchw.iter().product(), 1.0));
            let nhwc = b.tensor(&[spec.n, h, w, spec.c[0]]);
            let out = b.tensor(&spec.out_shape());
            let kk = spec.weight_len() / spec.c[1];
            let (weight, bias) = (rng.vec(spec.weight_len(), 1.0 / (kk as f32).sqrt()), rng.vec(spec.c[1], 0.2));
            let steps = vec![
                Step::Permute { input: x, output: nhwc, in_shape: nchw.to_vec(), perm: vec![0, 2, 3, 1] },
                spec.step(nhwc, out, None, weight, bias),
            ];
            let (plan, data) = b.plan(steps, out);
            Case { name, plan, data, exact: false, winograd: Winograd::Auto }
        })
        .collect()
}

/// Cases the GPU lowers with a folded step (see [`pooled_head_cases`] and
/// [`nchw_stem_cases`]), for the native lowering tests.
#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
pub fn folding_cases() -> Vec<Case> {
    pooled_head_cases().into_iter().chain(nchw_stem_cases()).collect()
}

// ---------------------------------------------------------------- networks

/// The ResNet stem's 3x3, stride-2 max pool.
fn stem_pool(input: TensorId, output: TensorId) -> Step {
    Step::Pool(Pool {
        input,
        output,
        kind: PoolKind::Max,
        kernel: [3, 3],
        stride: [2, 2],
        pad: [1; 4],
        dilation: [1, 1],
    })
}

/// NCHW input -> Permute -> stem conv -> max pool -> residual block (in-place
/// add into the pooled tensor) -> depthwise -> 1x1 -> GAP -> Dense -> Softmax,
/// with tensors reusing dead tensors' arena memory.
fn tiny_network() -> Case {
    let name = "tiny network, arena reuse".to_string();
    let mut rng = Rng::from_name(&name);
    let (n, h, w) = (2, 11, 9);
    let relu = Activation::Relu;
    let stem = conv(n, [h, w], [3, 8], 3, 2, [1; 4]).act(relu);
    let s_shape = stem.out_shape(); // [2,6,5,8]
    let p_shape = [n, 3, 3, 8];
    let block_a = conv(n, [3, 3], [8, 8], 3, 1, [1; 4]).act(relu);
    let block_b = block_a;
    let dw = conv(n, [3, 3], [8, 8], 3, 2, [1; 4]).groups(8).act(RELU6);
    let d_shape = dw.out_shape();
    let pw = conv(n, [d_shape[1], d_shape[2]], [8, 12], 1, 1, [0; 4]);

    let mut b = Builder::default();
    let t_in = b.input(&[n, 3, h, w], rng.vec(n * 3 * h * w, 2.0));
    // Two ping-pong regions after the input, reused as tensors die.
    let region = |i: usize| 1024 + i * 1024;
    let t_nhwc = b.tensor_at(&[n, h, w, 3], region(0));
    let t_s = b.tensor_at(&s_shape, region(1));
    let t_p = b.tensor_at(&p_shape, region(0));
    let t_a = b.tensor_at(&p_shape, region(1));
    let t_r = b.alias(t_p);
    let t_d = b.tensor_at(&d_shape, region(1));
    let t_q = b.tensor_at(&pw.out_shape(), region(0));
    let t_g = b.tensor_at(&[n, 1, 1, 12], region(1));
    let t_l = b.tensor_at(&[n, 5], region(0));
    let t_o = b.tensor_at(&[n, 5], region(1));
    let mut conv_step = |spec: ConvSpec, input, output, residual| {
        let (weight, bias) = (rng.vec(spec.weight_len(), 0.5), rng.vec(spec.c[1], 0.5));
        spec.step(input, output, residual, weight, bias)
    };
    let mut steps = vec![
        Step::Permute { input: t_in, output: t_nhwc, in_shape: vec![n, 3, h, w], perm: vec![0, 2, 3, 1] },
        conv_step(stem, t_nhwc, t_s, None),
        stem_pool(t_s, t_p),
        conv_step(block_a, t_p, t_a, None),
        conv_step(block_b, t_a, t_r, Some(t_p)),
        conv_step(dw, t_r, t_d, None),
        conv_step(pw, t_d, t_q, None),
        Step::GlobalAvgPool { input: t_q, output: t_g },
    ];
    let (weight, bias) = (rng.vec(12 * 5, 0.5), rng.vec(5, 0.5));
    steps.extend([
        Step::Dense(Dense {
            input: t_g,
            output: t_l,
            in_features: 12,
            out_features: 5,
            weight,
            bias,
            activation: Activation::None,
            int8: false,
            input_quant: None,
            requant: None,
        }),
        Step::Softmax { input: t_l, output: t_o },
    ]);
    let (plan, data) = b.plan(steps, t_o);
    Case { name, plan, data, exact: false, winograd: Winograd::Auto }
}

/// A miniature ResNet: NCHW input -> Permute -> stem conv -> max pool ->
/// 1x1 conv -> 3x3 conv with in-place residual -> GAP -> Dense -> Softmax.
pub fn chained_network() -> Case {
    let name = "chained network".to_string();
    let mut rng = Rng::from_name(&name);
    let mut b = Builder::default();
    let x = b.input(&[2, 3, 17, 17], rng.vec(2 * 3 * 17 * 17, 1.0));
    let nhwc = b.tensor(&[2, 17, 17, 3]);
    let s1 = b.tensor(&[2, 9, 9, 16]);
    let p1 = b.tensor(&[2, 5, 5, 16]);
    let c2 = b.tensor(&[2, 5, 5, 8]);
    let g = b.tensor(&[2, 1, 1, 16]);
    let logits = b.tensor(&[2, 10]);
    let probs = b.tensor(&[2, 10]);
    let mut conv_step = |input, output, residual, ic, oc, k: usize, s: usize, p: usize| {
        let spec = conv(2, [0, 0], [ic, oc], k, s, [p; 4]).act(Activation::Relu);
        let kk = k * k * ic;
        let (weight, bias) = (rng.vec(oc * kk, 1.0 / (kk as f32).sqrt()), rng.vec(oc, 0.2));
        spec.step(input, output, residual, weight, bias)
    };
    let stem = conv_step(nhwc, s1, None, 3, 16, 3, 2, 1);
    let pw = conv_step(p1, c2, None, 16, 8, 1, 1, 0);
    let body = conv_step(c2, p1, Some(p1), 8, 16, 3, 1, 1);
    let fc = Dense {
        input: g,
        output: logits,
        in_features: 16,
        out_features: 10,
        weight: rng.vec(160, 0.5),
        bias: rng.vec(10, 0.1),
        activation: Activation::None,
        int8: false,
        input_quant: None,
        requant: None,
    };
    let steps = vec![
        Step::Permute { input: x, output: nhwc, in_shape: vec![2, 3, 17, 17], perm: vec![0, 2, 3, 1] },
        stem,
        stem_pool(s1, p1),
        pw,
        body,
        Step::GlobalAvgPool { input: p1, output: g },
        Step::Dense(fc),
        Step::Softmax { input: logits, output: probs },
    ];
    let (mut plan, data) = b.plan(steps, probs);
    plan.output.is_probability = true;
    Case { name, plan, data, exact: false, winograd: Winograd::Auto }
}
