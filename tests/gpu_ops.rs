//! Every GPU step kind against naive loops, on small hand-built plans with
//! awkward shapes. Needs a GPU adapter (natively, Mesa's lavapipe is enough):
//! without one the tests print a loud skip, or fail when `CI=true`. Steps
//! with weights also run with f16 weights, which needs `shader-f16`
//! (lavapipe has it); its absence is the same loud skip or CI failure.

use webresnet::gpu::{GpuBackend, Precision};
use webresnet::plan::{
    Activation, Conv, Dense, Layout, Plan, PlanInput, PlanOutput, Pool, PoolKind, Step, TensorId, TensorInfo,
    ARENA_ALIGN,
};
use webresnet::Error;

// ---------------------------------------------------------------- harness

/// Deterministic values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// Lays tensors out in an arena. Operands are allocated first and then
/// covered by one plain "input" tensor, so the single plan input fills them all.
struct Net {
    tensors: Vec<TensorInfo>,
    steps: Vec<Step>,
    end: usize,
    input: Option<TensorId>,
}

impl Net {
    fn new() -> Self {
        Net { tensors: Vec::new(), steps: Vec::new(), end: 0, input: None }
    }

    fn t(&mut self, shape: &[usize]) -> TensorId {
        let offset = self.end;
        self.end = (offset + shape.iter().product::<usize>()).next_multiple_of(ARENA_ALIGN);
        let layout = if shape.len() == 4 { Layout::Nhwc } else { Layout::Plain };
        let name = format!("t{}", self.tensors.len());
        self.tensors.push(TensorInfo { shape: shape.to_vec(), layout, offset, name });
        self.tensors.len() - 1
    }

    /// Ends the operand section: the plan input spans every tensor so far.
    fn seal(&mut self) {
        let name = "input".to_string();
        self.tensors.push(TensorInfo { shape: vec![self.end], layout: Layout::Plain, offset: 0, name });
        self.input = Some(self.tensors.len() - 1);
    }

    fn shape(&self, t: TensorId) -> Vec<usize> {
        self.tensors[t].shape.clone()
    }

    /// Random values for the whole plan input.
    fn data(&self, r: &mut Rng) -> Vec<f32> {
        r.vec(self.tensors[self.input.expect("seal() first")].len(), 1.0)
    }

    /// Slice of the caller's input that operand `t` occupies.
    fn of<'a>(&self, input: &'a [f32], t: TensorId) -> &'a [f32] {
        &input[self.tensors[t].range()]
    }

    fn plan(self, output: TensorId) -> Plan {
        let input = self.input.expect("seal() before plan()");
        Plan {
            input: PlanInput { name: "input".into(), tensor: input, shape: self.tensors[input].shape.clone() },
            output: PlanOutput {
                name: "output".into(),
                tensor: output,
                shape: self.tensors[output].shape.clone(),
                is_probability: false,
            },
            arena_len: self.end,
            tensors: self.tensors,
            steps: self.steps,
            fused_nodes: 0,
            preprocess: Default::default(),
            labels: None,
        }
    }
}

fn skip(why: String) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true: {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPING GPU TEST: {why} !!!!!!!!\n");
}

/// Loads `plan` with `precision` weights; `None` when there is no adapter,
/// or f16 was asked for and the adapter lacks `shader-f16` (a skip, except under CI).
fn gpu_at(plan: &Plan, precision: Precision) -> Option<GpuBackend> {
    match GpuBackend::with_precision_blocking(plan, precision) {
        Ok(b) if b.precision() == precision => Some(b),
        Ok(b) => {
            skip(format!("{} gave {:?} weights, not {precision:?}", b.adapter_info(), b.precision()));
            None
        }
        Err(Error::GpuUnavailable(msg)) => {
            skip(format!("no GPU adapter ({msg})"));
            None
        }
        Err(e) => panic!("GPU backend failed to load: {e}"),
    }
}

fn gpu(plan: &Plan) -> Option<GpuBackend> {
    gpu_at(plan, Precision::F32)
}

/// Both weight precisions, for steps that have weights.
const BOTH: &[Precision] = &[Precision::F32, Precision::F16];

/// Runs `plan` at each precision and checks against `want`.
fn run_check(what: &str, plan: &Plan, input: &[f32], want: &[f32], precisions: &[Precision]) {
    for &p in precisions {
        if let Some(mut b) = gpu_at(plan, p) {
            check(&format!("{what} ({p:?})"), &b.run_blocking(input).expect("GPU run"), want, p);
        }
    }
}

/// Max abs difference within 1e-3 (f32 weights) or 2e-2 (f16) of the reference's range.
fn check(what: &str, got: &[f32], want: &[f32], precision: Precision) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let lo = want.iter().cloned().fold(f32::INFINITY, f32::min);
    let hi = want.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let rel = match precision {
        Precision::F32 => 1e-3,
        Precision::F16 => 2e-2,
    };
    let tol = rel * (hi - lo).max(1.0);
    let (worst, at) = got.iter().zip(want).map(|(g, w)| (g - w).abs()).enumerate().fold((0.0f32, 0), |acc, (i, d)| {
        if d > acc.0 || d.is_nan() {
            (d, i)
        } else {
            acc
        }
    });
    assert!(worst <= tol, "{what}: max abs diff {worst} at {at} (got {}, want {}), tol {tol}", got[at], want[at]);
}

fn out_dim(i: usize, k: usize, s: usize, p0: usize, p1: usize, d: usize) -> usize {
    (i + p0 + p1 - d * (k - 1) - 1) / s + 1
}

// ---------------------------------------------------------------- references

fn conv_ref(x: &[f32], xs: &[usize], c: &Conv, ys: &[usize], res: Option<&[f32]>) -> Vec<f32> {
    let [n, ih, iw, ic] = [xs[0], xs[1], xs[2], xs[3]];
    let [oh, ow, oc] = [ys[1], ys[2], ys[3]];
    let [kh, kw] = c.kernel;
    let (icg, ocg) = (ic / c.groups, oc / c.groups);
    let mut y = vec![0.0; n * oh * ow * oc];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let g = o / ocg;
                    let mut acc = c.bias[o];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let yy = (oy * c.stride[0] + ky * c.dilation[0]) as isize - c.pad[0] as isize;
                            let xx = (ox * c.stride[1] + kx * c.dilation[1]) as isize - c.pad[1] as isize;
                            if yy < 0 || xx < 0 || yy >= ih as isize || xx >= iw as isize {
                                continue;
                            }
                            for ci in 0..icg {
                                let xv = x[((b * ih + yy as usize) * iw + xx as usize) * ic + g * icg + ci];
                                acc += xv * c.weight[((o * kh + ky) * kw + kx) * icg + ci];
                            }
                        }
                    }
                    let i = ((b * oh + oy) * ow + ox) * oc + o;
                    if let Some(r) = res {
                        acc += r[i];
                    }
                    y[i] = c.activation.apply(acc);
                }
            }
        }
    }
    y
}

fn pool_ref(x: &[f32], xs: &[usize], p: &Pool, ys: &[usize]) -> Vec<f32> {
    let [n, ih, iw, c] = [xs[0], xs[1], xs[2], xs[3]];
    let [oh, ow] = [ys[1], ys[2]];
    let mut y = vec![0.0; n * oh * ow * c];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let (mut best, mut sum, mut inside, mut cells) = (f32::NEG_INFINITY, 0.0, 0, 0);
                    for ky in 0..p.kernel[0] {
                        let yy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad[0] as isize;
                        for kx in 0..p.kernel[1] {
                            let xx = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad[1] as isize;
                            if yy >= (ih + p.pad[2]) as isize || xx >= (iw + p.pad[3]) as isize {
                                continue;
                            }
                            cells += 1;
                            if yy >= 0 && xx >= 0 && yy < ih as isize && xx < iw as isize {
                                let v = x[((b * ih + yy as usize) * iw + xx as usize) * c + ch];
                                best = best.max(v);
                                sum += v;
                                inside += 1;
                            }
                        }
                    }
                    y[((b * oh + oy) * ow + ox) * c + ch] = match p.kind {
                        PoolKind::Max => best,
                        PoolKind::Avg { count_include_pad } => {
                            sum / if count_include_pad { cells } else { inside } as f32
                        }
                    };
                }
            }
        }
    }
    y
}

fn dense_ref(x: &[f32], d: &Dense) -> Vec<f32> {
    x.chunks(d.in_features)
        .flat_map(|row| {
            (0..d.out_features).map(move |o| {
                let w = &d.weight[o * d.in_features..][..d.in_features];
                d.activation.apply(d.bias[o] + row.iter().zip(w).map(|(a, b)| a * b).sum::<f32>())
            })
        })
        .collect()
}

fn softmax_ref(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks(cols)
        .flat_map(|row| {
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
            row.iter().map(move |v| (v - m).exp() / s)
        })
        .collect()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Multi-index of flat index `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn permute_ref(x: &[f32], in_shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let st = strides(in_shape);
    (0..x.len())
        .map(|i| {
            let o = unravel(i, &out_shape);
            x[o.iter().zip(perm).map(|(&v, &p)| v * st[p]).sum::<usize>()]
        })
        .collect()
}

fn pad_ref(x: &[f32], xs: &[usize], pads: &[(usize, usize)], value: f32) -> Vec<f32> {
    let ys: Vec<usize> = xs.iter().zip(pads).map(|(d, p)| d + p.0 + p.1).collect();
    let st = strides(xs);
    (0..ys.iter().product())
        .map(|i| {
            let o = unravel(i, &ys);
            let mut src = 0;
            for d in 0..xs.len() {
                let v = o[d] as isize - pads[d].0 as isize;
                if v < 0 || v >= xs[d] as isize {
                    return value;
                }
                src += v as usize * st[d];
            }
            x[src]
        })
        .collect()
}

// ---------------------------------------------------------------- conv

#[derive(Clone, Copy)]
enum Res {
    None,
    Separate,
    InPlace,
}

#[derive(Clone, Copy)]
struct ConvCase {
    n: usize,
    hw: [usize; 2],
    ic: usize,
    oc: usize,
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    d: [usize; 2],
    g: usize,
    act: Activation,
    res: Res,
}

const BASE: ConvCase = ConvCase {
    n: 1,
    hw: [9, 11],
    ic: 5,
    oc: 7,
    k: [3, 3],
    s: [1, 1],
    pad: [1, 1, 1, 1],
    d: [1, 1],
    g: 1,
    act: Activation::None,
    res: Res::None,
};

/// Builds the one-conv plan for `cc`: (plan, input, reference output).
fn conv_case(cc: ConvCase, seed: u64) -> (Plan, Vec<f32>, Vec<f32>) {
    let mut r = Rng(seed);
    let oh = out_dim(cc.hw[0], cc.k[0], cc.s[0], cc.pad[0], cc.pad[2], cc.d[0]);
    let ow = out_dim(cc.hw[1], cc.k[1], cc.s[1], cc.pad[1], cc.pad[3], cc.d[1]);
    let mut net = Net::new();
    let x = net.t(&[cc.n, cc.hw[0], cc.hw[1], cc.ic]);
    let res = match cc.res {
        Res::None => None,
        _ => Some(net.t(&[cc.n, oh, ow, cc.oc])),
    };
    net.seal();
    let y = match (cc.res, res) {
        (Res::InPlace, Some(t)) => t,
        _ => net.t(&[cc.n, oh, ow, cc.oc]),
    };
    let k = cc.k[0] * cc.k[1] * cc.ic / cc.g;
    let conv = Conv {
        input: x,
        output: y,
        residual: res,
        in_channels: cc.ic,
        out_channels: cc.oc,
        kernel: cc.k,
        stride: cc.s,
        pad: cc.pad,
        dilation: cc.d,
        groups: cc.g,
        weight: r.vec(cc.oc * k, 1.0 / (k as f32).sqrt()),
        bias: r.vec(cc.oc, 0.5),
        activation: cc.act,
    };
    let input = net.data(&mut r);
    let want = conv_ref(net.of(&input, x), &net.shape(x), &conv, &net.shape(y), res.map(|t| net.of(&input, t)));
    net.steps.push(Step::Conv(conv));
    (net.plan(y), input, want)
}

fn conv_check(what: &str, cc: ConvCase) {
    let (plan, input, want) = conv_case(cc, what.len() as u64 * 7919);
    run_check(what, &plan, &input, &want, BOTH);
}

#[test]
fn conv_generic_odd_channels() {
    conv_check("3x3 s1 5->7", BASE);
    conv_check(
        "3x3 s2 asym pad 13->3 clip",
        ConvCase {
            hw: [13, 11],
            ic: 13,
            oc: 3,
            s: [2, 2],
            pad: [0, 1, 1, 0],
            act: Activation::Clip { min: -0.5, max: 0.7 },
            ..BASE
        },
    );
    conv_check(
        "5x3 s(2,1) 7->5 relu",
        ConvCase { ic: 7, oc: 5, k: [5, 3], s: [2, 1], pad: [2, 0, 1, 1], act: Activation::Relu, ..BASE },
    );
}

#[test]
fn conv_dilation_and_vec4() {
    conv_check("dil 2 8->12", ConvCase { hw: [10, 9], ic: 8, oc: 12, pad: [2, 2, 2, 2], d: [2, 2], ..BASE });
    conv_check(
        "dil (2,1) 3->5 relu",
        ConvCase { ic: 3, oc: 5, pad: [2, 1, 1, 0], d: [2, 1], act: Activation::Relu, ..BASE },
    );
    conv_check("3x3 s2 16->20", ConvCase { hw: [15, 15], ic: 16, oc: 20, s: [2, 2], ..BASE });
}

#[test]
fn conv_groups() {
    conv_check("groups 2 6->10", ConvCase { ic: 6, oc: 10, g: 2, ..BASE });
    conv_check("groups 3 12->9 s2", ConvCase { ic: 12, oc: 9, g: 3, s: [2, 2], act: Activation::Relu, ..BASE });
    conv_check("groups 2 16->16 residual", ConvCase { ic: 16, oc: 16, g: 2, res: Res::Separate, ..BASE });
    conv_check("channel multiplier 2", ConvCase { ic: 5, oc: 10, g: 5, ..BASE });
}

#[test]
fn conv_depthwise() {
    let dw = |c, k: usize, s, p, res, act| ConvCase {
        n: 2,
        ic: c,
        oc: c,
        g: c,
        k: [k, k],
        s: [s, s],
        pad: p,
        res,
        act,
        ..BASE
    };
    conv_check("dw 13 3x3 s2", dw(13, 3, 2, [1, 1, 1, 1], Res::None, Activation::Relu));
    conv_check("dw 16 5x5 s1", dw(16, 5, 1, [2, 2, 2, 2], Res::None, Activation::Clip { min: 0.0, max: 6.0 }));
    conv_check("dw 12 3x3 s2 asym", dw(12, 3, 2, [0, 0, 1, 1], Res::Separate, Activation::None));
    conv_check("dw 7 in-place residual", dw(7, 3, 1, [1, 1, 1, 1], Res::InPlace, Activation::Relu));
}

#[test]
fn conv_pointwise() {
    let pw = |ic, oc, s| ConvCase { hw: [9, 7], ic, oc, k: [1, 1], s: [s, s], pad: [0; 4], ..BASE };
    conv_check("1x1 s1 64->24", pw(64, 24, 1));
    conv_check("1x1 s2 64->24", pw(64, 24, 2));
    conv_check("1x1 s1 7->5", pw(7, 5, 1));
    conv_check("1x1 s2 13->3", pw(13, 3, 2));
    conv_check("1x1 s1 residual relu", ConvCase { res: Res::Separate, act: Activation::Relu, ..pw(32, 16, 1) });
    conv_check("1x1 s1 in-place", ConvCase { res: Res::InPlace, n: 2, ..pw(8, 12, 1) });
    conv_check("1x1 padded", ConvCase { pad: [1, 0, 0, 1], ..pw(8, 8, 1) });
}

#[test]
fn conv_stem_batch2() {
    conv_check(
        "7x7 s2 stem 3->64",
        ConvCase {
            n: 2,
            hw: [23, 21],
            ic: 3,
            oc: 64,
            k: [7, 7],
            s: [2, 2],
            pad: [3, 3, 3, 3],
            act: Activation::Relu,
            ..BASE
        },
    );
}

#[test]
fn conv_residuals_batch2() {
    let c = ConvCase { n: 2, ic: 8, oc: 8, act: Activation::Relu, ..BASE };
    conv_check("separate residual", ConvCase { res: Res::Separate, ..c });
    conv_check("in-place residual", ConvCase { res: Res::InPlace, ..c });
    conv_check("in-place residual odd", ConvCase { ic: 5, oc: 7, res: Res::InPlace, ..c });
}

#[test]
fn conv_full_tiles() {
    let c = ConvCase { hw: [28, 28], ic: 64, oc: 64, act: Activation::Relu, res: Res::Separate, ..BASE };
    conv_check("28x28x64->64", c);
    conv_check("28x28x64->80 s2", ConvCase { oc: 80, s: [2, 2], res: Res::None, ..c });
}

/// Times ResNet-shaped convs after a warm-up run (the 56x56x64->64 3x3 of
/// stage 1 first); prints the median of five runs.
#[test]
fn conv_timing() {
    let stage1 = ConvCase { hw: [56, 56], ic: 64, oc: 64, act: Activation::Relu, ..BASE };
    let cases = [
        ("56x56x64->64 3x3", stage1),
        ("56x56x64->256 1x1", ConvCase { oc: 256, k: [1, 1], pad: [0; 4], ..stage1 }),
        ("224x224x3->64 7x7 s2 stem", ConvCase { hw: [224, 224], ic: 3, k: [7, 7], s: [2, 2], pad: [3; 4], ..stage1 }),
        ("112x112x32 3x3 depthwise", ConvCase { hw: [112, 112], ic: 32, oc: 32, g: 32, ..stage1 }),
    ];
    for (what, cc) in cases {
        let (plan, input, want) = conv_case(cc, 56);
        let Some(mut b) = gpu(&plan) else { return };
        check(what, &b.run_blocking(&input).unwrap(), &want, Precision::F32);
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                b.run_blocking(&input).unwrap();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let gflops = 2.0 * plan.macs() as f64 / (times[2] * 1e-3) / 1e9;
        println!("{what} on {}: median {:.2} ms ({gflops:.2} GFLOP/s)", b.adapter_info(), times[2]);
    }
}

// ---------------------------------------------------------------- other steps

fn single(net: Net, input: &[f32], out: TensorId, want: &[f32], what: &str, precisions: &[Precision]) {
    run_check(what, &net.plan(out), input, want, precisions);
}

/// Window of a pool case: kernel, stride, pad, dilation (square kernels).
type Window = (usize, usize, [usize; 4], usize);

fn pool_check(what: &str, xs: [usize; 4], kind: PoolKind, win: Window, extra: usize) {
    let (k, s, pad, d) = win;
    let mut net = Net::new();
    let x = net.t(&xs);
    net.seal();
    // `extra` output rows/cols beyond floor mode exercise windows clipped by the padded extent.
    let oh = out_dim(xs[1], k, s, pad[0], pad[2], d) + extra;
    let ow = out_dim(xs[2], k, s, pad[1], pad[3], d) + extra;
    let y = net.t(&[xs[0], oh, ow, xs[3]]);
    let p = Pool { input: x, output: y, kind, kernel: [k, k], stride: [s, s], pad, dilation: [d, d] };
    let input = net.data(&mut Rng(xs.iter().product::<usize>() as u64));
    let want = pool_ref(net.of(&input, x), &xs, &p, &net.shape(y));
    net.steps.push(Step::Pool(p));
    single(net, &input, y, &want, what, &[Precision::F32]);
}

#[test]
fn pools() {
    let max = PoolKind::Max;
    let avg = PoolKind::Avg { count_include_pad: false };
    let avg_pad = PoolKind::Avg { count_include_pad: true };
    pool_check("max 3x3 s2 p1", [2, 9, 9, 5], max, (3, 2, [1; 4], 1), 0);
    pool_check("max dil 2", [1, 11, 10, 7], max, (3, 1, [0, 1, 2, 0], 2), 0);
    pool_check("avg asym pad", [2, 8, 7, 13], avg, (3, 2, [0, 1, 1, 0], 1), 0);
    pool_check("avg include pad", [1, 8, 7, 3], avg_pad, (3, 2, [1; 4], 1), 0);
    pool_check("avg ceil-mode window", [1, 8, 8, 4], avg_pad, (3, 2, [1, 1, 0, 0], 1), 1);
    pool_check("max ceil-mode window", [1, 8, 8, 4], max, (3, 2, [1, 1, 0, 0], 1), 1);
}

#[test]
fn global_avg_pool() {
    let mut net = Net::new();
    let x = net.t(&[2, 7, 5, 13]);
    net.seal();
    let y = net.t(&[2, 1, 1, 13]);
    let input = net.data(&mut Rng(3));
    let xv = net.of(&input, x);
    let want: Vec<f32> = (0..2)
        .flat_map(|b| (0..13).map(move |c| (0..35).map(|p| xv[(b * 35 + p) * 13 + c]).sum::<f32>() / 35.0))
        .collect();
    net.steps.push(Step::GlobalAvgPool { input: x, output: y });
    single(net, &input, y, &want, "gap", &[Precision::F32]);
}

#[test]
fn dense() {
    for (rows, kin, kout, act) in [(2, 13, 7, Activation::Relu), (1, 64, 1000, Activation::None)] {
        let mut r = Rng(kout as u64);
        let mut net = Net::new();
        let x = net.t(&[rows, kin]);
        net.seal();
        let y = net.t(&[rows, kout]);
        let d = Dense {
            input: x,
            output: y,
            in_features: kin,
            out_features: kout,
            weight: r.vec(kin * kout, 0.3),
            bias: r.vec(kout, 0.3),
            activation: act,
        };
        let input = net.data(&mut r);
        let want = dense_ref(net.of(&input, x), &d);
        net.steps.push(Step::Dense(d));
        single(net, &input, y, &want, &format!("dense {kin}->{kout}"), BOTH);
    }
}

#[test]
fn affine() {
    for (scale_n, act) in [(5, Activation::None), (1, Activation::Clip { min: -0.2, max: 0.4 })] {
        let mut r = Rng(scale_n as u64);
        let mut net = Net::new();
        let x = net.t(&[2, 3, 7, 5]);
        net.seal();
        let y = net.t(&[2, 3, 7, 5]);
        let (scale, shift) = (r.vec(scale_n, 2.0), r.vec(5, 1.0));
        let input = net.data(&mut r);
        let want: Vec<f32> = net
            .of(&input, x)
            .iter()
            .enumerate()
            .map(|(i, v)| act.apply(v * scale[if scale_n == 1 { 0 } else { i % 5 }] + shift[i % 5]))
            .collect();
        let a = webresnet::plan::Affine { input: x, output: y, channels: 5, scale, shift, activation: act };
        net.steps.push(Step::Affine(a));
        single(net, &input, y, &want, "affine", BOTH);
    }
}

#[test]
fn add() {
    for (in_place, act) in [(false, Activation::Relu), (true, Activation::None)] {
        let mut net = Net::new();
        let a = net.t(&[1, 5, 3, 13]);
        let b = net.t(&[1, 5, 3, 13]);
        net.seal();
        let y = if in_place { a } else { net.t(&[1, 5, 3, 13]) };
        let input = net.data(&mut Rng(9));
        let want: Vec<f32> = net.of(&input, a).iter().zip(net.of(&input, b)).map(|(x, y)| act.apply(x + y)).collect();
        net.steps.push(Step::Add { a, b, output: y, activation: act });
        single(net, &input, y, &want, "add", &[Precision::F32]);
    }
}

#[test]
fn softmax() {
    for (shape, in_place) in [(vec![3, 1000], false), (vec![2, 1, 1, 5], true)] {
        let mut net = Net::new();
        let x = net.t(&shape);
        net.seal();
        let y = if in_place { x } else { net.t(&shape) };
        let input: Vec<f32> = net.data(&mut Rng(11)).iter().map(|v| v * 8.0).collect();
        let want = softmax_ref(net.of(&input, x), *shape.last().unwrap());
        net.steps.push(Step::Softmax { input: x, output: y });
        single(net, &input, y, &want, "softmax", &[Precision::F32]);
    }
}

#[test]
fn permute() {
    for (in_shape, perm) in [(vec![2, 3, 5, 7], vec![0, 2, 3, 1]), (vec![3, 4, 5], vec![2, 0, 1])] {
        let mut net = Net::new();
        let x = net.t(&in_shape);
        net.seal();
        let out: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
        let y = net.t(&out);
        let input = net.data(&mut Rng(5));
        let want = permute_ref(net.of(&input, x), &in_shape, &perm);
        net.steps.push(Step::Permute { input: x, output: y, in_shape, perm });
        single(net, &input, y, &want, "permute", &[Precision::F32]);
    }
}

#[test]
fn pad() {
    let cases =
        [(vec![1, 5, 4, 3], vec![(0, 0), (1, 2), (0, 1), (0, 0)], -1.0), (vec![3, 7], vec![(2, 0), (1, 3)], 0.5)];
    for (xs, pads, value) in cases {
        let mut net = Net::new();
        let x = net.t(&xs);
        net.seal();
        let ys: Vec<usize> = xs.iter().zip(&pads).map(|(d, p)| d + p.0 + p.1).collect();
        let y = net.t(&ys);
        let input = net.data(&mut Rng(13));
        let want = pad_ref(net.of(&input, x), &xs, &pads, value);
        net.steps.push(Step::Pad { input: x, output: y, pads, value });
        single(net, &input, y, &want, "pad", &[Precision::F32]);
    }
}

// ---------------------------------------------------------------- chained

/// A miniature ResNet: NCHW input -> Permute -> stem conv -> max pool ->
/// 1x1 conv -> 3x3 conv with in-place residual -> GAP -> Dense -> Softmax.
#[test]
fn chained_plan() {
    let mut r = Rng(42);
    let mut net = Net::new();
    let x = net.t(&[2, 3, 17, 17]);
    net.seal();
    let input = net.input.unwrap();
    let mut conv = |input, output, residual, ic, oc, k: usize, s: usize, p: usize| {
        let kk = k * k * ic;
        Conv {
            input,
            output,
            residual,
            in_channels: ic,
            out_channels: oc,
            kernel: [k, k],
            stride: [s, s],
            pad: [p; 4],
            dilation: [1, 1],
            groups: 1,
            weight: r.vec(oc * kk, 1.0 / (kk as f32).sqrt()),
            bias: r.vec(oc, 0.2),
            activation: Activation::Relu,
        }
    };
    let nhwc = net.t(&[2, 17, 17, 3]);
    let s1 = net.t(&[2, 9, 9, 16]);
    let p1 = net.t(&[2, 5, 5, 16]);
    let c2 = net.t(&[2, 5, 5, 8]);
    let g = net.t(&[2, 1, 1, 16]);
    let logits = net.t(&[2, 10]);
    let probs = net.t(&[2, 10]);
    let stem = conv(nhwc, s1, None, 3, 16, 3, 2, 1);
    let pw = conv(p1, c2, None, 16, 8, 1, 1, 0);
    let body = conv(c2, p1, Some(p1), 8, 16, 3, 1, 1);
    let pool = Pool {
        input: s1,
        output: p1,
        kind: PoolKind::Max,
        kernel: [3, 3],
        stride: [2, 2],
        pad: [1; 4],
        dilation: [1, 1],
    };
    let fc = Dense {
        input: g,
        output: logits,
        in_features: 16,
        out_features: 10,
        weight: r.vec(160, 0.5),
        bias: r.vec(10, 0.1),
        activation: Activation::None,
    };

    let data = net.data(&mut r);
    let xv = permute_ref(net.of(&data, x), &[2, 3, 17, 17], &[0, 2, 3, 1]);
    let a = conv_ref(&xv, &[2, 17, 17, 3], &stem, &[2, 9, 9, 16], None);
    let b = pool_ref(&a, &[2, 9, 9, 16], &pool, &[2, 5, 5, 16]);
    let c = conv_ref(&b, &[2, 5, 5, 16], &pw, &[2, 5, 5, 8], None);
    let d = conv_ref(&c, &[2, 5, 5, 8], &body, &[2, 5, 5, 16], Some(&b));
    let e: Vec<f32> = (0..2)
        .flat_map(|n| {
            let d = &d;
            (0..16).map(move |ch| (0..25).map(|p| d[(n * 25 + p) * 16 + ch]).sum::<f32>() / 25.0)
        })
        .collect();
    let want = softmax_ref(&dense_ref(&e, &fc), 10);

    net.steps = vec![
        Step::Permute { input: x, output: nhwc, in_shape: vec![2, 3, 17, 17], perm: vec![0, 2, 3, 1] },
        Step::Conv(stem),
        Step::Pool(pool),
        Step::Conv(pw),
        Step::Conv(body),
        Step::GlobalAvgPool { input: p1, output: g },
        Step::Dense(fc),
        Step::Softmax { input: logits, output: probs },
    ];
    let mut plan = net.plan(probs);
    assert_eq!(plan.input.tensor, input);
    plan.output.is_probability = true;
    for &p in BOTH {
        let Some(mut b) = gpu_at(&plan, p) else { continue };
        // Permute, stem conv, pool (+GAP), 1x1 conv, 3x3 conv, dense, softmax.
        assert_eq!(b.pipeline_count(), 7);
        for _ in 0..2 {
            check(&format!("chained ({p:?})"), &b.run_blocking(&data).unwrap(), &want, p);
        }
    }
}

#[test]
fn wrong_input_length_is_an_error() {
    let mut net = Net::new();
    let x = net.t(&[4]);
    net.seal();
    let y = net.t(&[4]);
    net.steps.push(Step::Softmax { input: x, output: y });
    let plan = net.plan(y);
    let Some(mut b) = gpu(&plan) else { return };
    assert!(matches!(b.run_blocking(&[1.0; 3]), Err(Error::InvalidInput(_))));
}
