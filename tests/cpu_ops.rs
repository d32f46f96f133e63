//! CPU backend against naive references: every step kind on odd shapes,
//! a chained network, error paths, and an ignored throughput benchmark.
//!
//! References are written in logical NCHW terms with f64 accumulation and
//! only translate indices to the NHWC storage at the edges.

mod common;

use common::{assert_close, Builder, Rng};
use webresnet::cpu::CpuBackend;
use webresnet::plan::{Activation, Affine, Conv, Dense, Plan, Pool, PoolKind, Step, TensorId};
use webresnet::Error;

const ACTS: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Clip { min: 0.0, max: 6.0 }];

fn act(a: Activation, x: f64) -> f64 {
    match a {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::Clip { min, max } => x.max(min as f64).min(max as f64),
    }
}

/// NHWC index of logical element (n, c, y, x).
fn nhwc(shape: [usize; 4], n: usize, c: usize, y: usize, x: usize) -> usize {
    ((n * shape[1] + y) * shape[2] + x) * shape[3] + c
}

/// Signed input coordinate of tap `k` for output `o` along one axis.
fn coord(o: usize, k: usize, stride: usize, dil: usize, pad_before: usize) -> isize {
    (o * stride + k * dil) as isize - pad_before as isize
}

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
enum Res {
    None,
    Separate,
    InPlace,
}

#[derive(Clone, Copy, Debug)]
struct ConvCase {
    n: usize,
    h: usize,
    w: usize,
    cin: usize,
    cout: usize,
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    d: [usize; 2],
    groups: usize,
}

impl ConvCase {
    fn out_shape(&self) -> [usize; 4] {
        let oh = out_size(self.h, self.k[0], self.s[0], self.pad[0], self.pad[2], self.d[0], false);
        let ow = out_size(self.w, self.k[1], self.s[1], self.pad[1], self.pad[3], self.d[1], false);
        [self.n, oh, ow, self.cout]
    }

    fn step(
        &self,
        input: TensorId,
        output: TensorId,
        residual: Option<TensorId>,
        weight: Vec<f32>,
        bias: Vec<f32>,
        a: Activation,
    ) -> Step {
        Step::Conv(Conv {
            input,
            output,
            residual,
            in_channels: self.cin,
            out_channels: self.cout,
            kernel: self.k,
            stride: self.s,
            pad: self.pad,
            dilation: self.d,
            groups: self.groups,
            weight,
            bias,
            activation: a,
        })
    }

    /// Direct convolution, logical NCHW loops; weight OHWI.
    fn reference(&self, x: &[f32], wt: &[f32], bias: &[f32], res: Option<&[f32]>, a: Activation) -> Vec<f32> {
        let ins = [self.n, self.h, self.w, self.cin];
        let os = self.out_shape();
        let (cin_g, cout_g) = (self.cin / self.groups, self.cout / self.groups);
        let mut out = vec![0.0; os.iter().product()];
        for n in 0..self.n {
            for oc in 0..self.cout {
                let g = oc / cout_g;
                for oy in 0..os[1] {
                    for ox in 0..os[2] {
                        let mut acc = bias[oc] as f64;
                        for icg in 0..cin_g {
                            for ky in 0..self.k[0] {
                                for kx in 0..self.k[1] {
                                    let iy = coord(oy, ky, self.s[0], self.d[0], self.pad[0]);
                                    let ix = coord(ox, kx, self.s[1], self.d[1], self.pad[1]);
                                    if iy < 0 || ix < 0 || iy >= self.h as isize || ix >= self.w as isize {
                                        continue;
                                    }
                                    let xv = x[nhwc(ins, n, g * cin_g + icg, iy as usize, ix as usize)];
                                    let wv = wt[((oc * self.k[0] + ky) * self.k[1] + kx) * cin_g + icg];
                                    acc += xv as f64 * wv as f64;
                                }
                            }
                        }
                        let i = nhwc(os, n, oc, oy, ox);
                        if let Some(r) = res {
                            acc += r[i] as f64;
                        }
                        out[i] = act(a, acc) as f32;
                    }
                }
            }
        }
        out
    }

    fn check(&self, res: Res, a: Activation, rng: &mut Rng) {
        let what = format!("{self:?} {res:?} {a:?}");
        let os = self.out_shape();
        let x = rng.vec(self.n * self.h * self.w * self.cin, 2.0);
        let wt = rng.vec(self.cout * self.k[0] * self.k[1] * self.cin / self.groups, 1.0);
        let bias = rng.vec(self.cout, 1.0);
        let r = rng.vec(os.iter().product(), 2.0);
        let want = self.reference(&x, &wt, &bias, (res != Res::None).then_some(&r[..]), a);

        let mut b = Builder::default();
        let input = b.input(&[self.n, self.h, self.w, self.cin], x);
        let (residual, output) = match res {
            Res::None => (None, b.tensor(&os)),
            Res::Separate => (Some(b.input(&os, r)), b.tensor(&os)),
            Res::InPlace => {
                let r = b.input(&os, r);
                (Some(r), b.alias(r))
            }
        };
        let (plan, data) = b.plan(vec![self.step(input, output, residual, wt, bias, a)], output);
        let got = CpuBackend::new(&plan).expect("plan accepted").run(&data).expect("run");
        assert_close(&got, &want, &what);
        #[cfg(feature = "threads")]
        same_on_threads(&plan, &data, &what);
    }
}

/// With the `threads` feature: a pool of 3 gives exactly what a pool of 1 does.
#[cfg(feature = "threads")]
fn same_on_threads(plan: &Plan, data: &[f32], what: &str) {
    let on = |n| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool");
        pool.install(|| CpuBackend::new(plan).expect("plan accepted").run(data).expect("run"))
    };
    let (one, three) = (on(1), on(3));
    assert!(one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: 3 threads differ from 1");
}

/// A square-kernel case; chain [`ConvCase::dil`] / [`ConvCase::groups`] for the rest.
fn conv(n: usize, hw: [usize; 2], c: [usize; 2], k: usize, s: usize, pad: [usize; 4]) -> ConvCase {
    ConvCase { n, h: hw[0], w: hw[1], cin: c[0], cout: c[1], k: [k, k], s: [s, s], pad, d: [1, 1], groups: 1 }
}

impl ConvCase {
    fn dil(self, d: usize) -> Self {
        ConvCase { d: [d, d], ..self }
    }
    fn groups(self, groups: usize) -> Self {
        ConvCase { groups, ..self }
    }
}

fn check_all(cases: &[ConvCase]) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, case) in cases.iter().enumerate() {
        for (j, res) in [Res::None, Res::Separate, Res::InPlace].into_iter().enumerate() {
            case.check(res, ACTS[(i + j) % 3], &mut rng);
        }
    }
}

#[test]
fn conv_general_kxk() {
    check_all(&[
        conv(1, [7, 9], [5, 7], 3, 1, [1; 4]),
        conv(2, [11, 5], [3, 13], 3, 2, [1; 4]),
        conv(2, [7, 9], [7, 5], 3, 2, [0, 0, 1, 1]),
        conv(1, [11, 5], [5, 3], 3, 1, [2, 0, 1, 3]),
        conv(2, [9, 7], [3, 5], 3, 1, [2; 4]).dil(2),
        conv(1, [11, 9], [5, 7], 3, 2, [1, 2, 0, 1]).dil(2),
        conv(2, [11, 9], [3, 5], 7, 2, [3; 4]),
        conv(1, [5, 7], [4, 4], 5, 1, [0; 4]),
        // 1x1 with padding can't take the direct path.
        conv(1, [5, 7], [5, 3], 1, 1, [1, 0, 0, 2]),
        // Larger than one im2col scratch chunk.
        conv(1, [40, 40], [64, 5], 3, 1, [1; 4]),
    ]);
    let mut rng = Rng(7);
    let mut rect = conv(2, [7, 9], [5, 3], 1, 1, [0, 1, 0, 1]);
    (rect.k, rect.s, rect.d) = ([1, 3], [1, 2], [1, 2]);
    rect.check(Res::Separate, Activation::Relu, &mut rng);
    (rect.k, rect.s, rect.d) = ([3, 1], [2, 1], [1, 1]);
    rect.check(Res::InPlace, Activation::None, &mut rng);
}

#[test]
fn conv_grouped() {
    check_all(&[
        conv(1, [7, 9], [6, 10], 3, 1, [1; 4]).groups(2),
        conv(2, [11, 5], [9, 6], 3, 2, [1, 0, 1, 2]).groups(3),
        conv(1, [9, 7], [6, 9], 3, 1, [2; 4]).dil(2).groups(3),
        conv(2, [7, 9], [10, 4], 1, 1, [0; 4]).groups(2),
        conv(1, [11, 5], [9, 15], 1, 2, [0; 4]).groups(3),
        // Depthwise with channel multiplier 2: grouped GEMM, not the depthwise kernel.
        conv(1, [7, 9], [5, 10], 3, 1, [1; 4]).groups(5),
    ]);
}

#[test]
fn conv_depthwise() {
    check_all(&[
        conv(1, [7, 9], [13, 13], 3, 1, [1; 4]).groups(13),
        conv(2, [11, 5], [7, 7], 3, 2, [1; 4]).groups(7),
        conv(1, [11, 9], [5, 5], 3, 2, [0, 0, 1, 1]).groups(5),
        conv(2, [9, 7], [3, 3], 3, 1, [2; 4]).dil(2).groups(3),
        conv(1, [11, 9], [13, 13], 5, 2, [2, 1, 2, 3]).groups(13),
        // Enough output pixels to be split over threads, unevenly.
        conv(2, [23, 17], [13, 13], 3, 2, [1; 4]).groups(13),
        conv(1, [31, 29], [21, 21], 5, 1, [2, 1, 2, 3]).groups(21),
    ]);
}

#[test]
fn conv_pointwise() {
    check_all(&[
        conv(2, [7, 9], [13, 7], 1, 1, [0; 4]),
        conv(1, [11, 5], [5, 13], 1, 2, [0; 4]),
        conv(2, [7, 9], [3, 5], 1, 2, [0; 4]),
        conv(1, [9, 7], [7, 3], 1, 3, [0; 4]),
        // More rows than one epilogue chunk.
        conv(1, [20, 21], [13, 7], 1, 1, [0; 4]),
    ]);
}

// ---------------------------------------------------------------- Pool

#[derive(Clone, Copy, Debug)]
struct PoolCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    kind: PoolKind,
    k: [usize; 2],
    s: [usize; 2],
    pad: [usize; 4],
    d: [usize; 2],
    ceil: bool,
}

impl PoolCase {
    fn out_shape(&self) -> [usize; 4] {
        let oh = out_size(self.h, self.k[0], self.s[0], self.pad[0], self.pad[2], self.d[0], self.ceil);
        let ow = out_size(self.w, self.k[1], self.s[1], self.pad[1], self.pad[3], self.d[1], self.ceil);
        [self.n, oh, ow, self.c]
    }

    /// Windows clipped to the padded extent; padded cells ignored by max,
    /// counted by average only with `count_include_pad`.
    fn reference(&self, x: &[f32]) -> Vec<f32> {
        let ins = [self.n, self.h, self.w, self.c];
        let os = self.out_shape();
        let mut out = vec![0.0; os.iter().product()];
        let padded =
            |i: isize, size: usize, before: usize, after: usize| i >= -(before as isize) && i < (size + after) as isize;
        for n in 0..self.n {
            for c in 0..self.c {
                for oy in 0..os[1] {
                    for ox in 0..os[2] {
                        let (mut max, mut sum, mut inside, mut in_pad) = (f64::NEG_INFINITY, 0.0, 0, 0);
                        for ky in 0..self.k[0] {
                            for kx in 0..self.k[1] {
                                let iy = coord(oy, ky, self.s[0], self.d[0], self.pad[0]);
                                let ix = coord(ox, kx, self.s[1], self.d[1], self.pad[1]);
                                if !padded(iy, self.h, self.pad[0], self.pad[2])
                                    || !padded(ix, self.w, self.pad[1], self.pad[3])
                                {
                                    continue;
                                }
                                in_pad += 1;
                                if iy >= 0 && ix >= 0 && (iy as usize) < self.h && (ix as usize) < self.w {
                                    let v = x[nhwc(ins, n, c, iy as usize, ix as usize)] as f64;
                                    max = max.max(v);
                                    sum += v;
                                    inside += 1;
                                }
                            }
                        }
                        out[nhwc(os, n, c, oy, ox)] = match self.kind {
                            PoolKind::Max => max,
                            PoolKind::Avg { count_include_pad: true } => sum / in_pad as f64,
                            PoolKind::Avg { count_include_pad: false } => sum / inside as f64,
                        } as f32;
                    }
                }
            }
        }
        out
    }

    fn check(&self, rng: &mut Rng) {
        let x = rng.vec(self.n * self.h * self.w * self.c, 2.0);
        let want = self.reference(&x);
        let mut b = Builder::default();
        let input = b.input(&[self.n, self.h, self.w, self.c], x);
        let output = b.tensor(&self.out_shape());
        let step = Step::Pool(Pool {
            input,
            output,
            kind: self.kind,
            kernel: self.k,
            stride: self.s,
            pad: self.pad,
            dilation: self.d,
        });
        assert_close(&b.run(vec![step], output), &want, &format!("{self:?}"));
    }
}

/// (kernel, pad, dilation, ceil mode, [h, w])
type PoolGeom = (usize, [usize; 4], usize, bool, [usize; 2]);

#[test]
fn pool_max_and_avg() {
    let mut rng = Rng(42);
    let kinds = [PoolKind::Max, PoolKind::Avg { count_include_pad: false }, PoolKind::Avg { count_include_pad: true }];
    let geoms: [PoolGeom; 7] = [
        (3, [1; 4], 1, false, [11, 5]),
        (3, [0; 4], 1, true, [8, 8]),
        (3, [1; 4], 1, true, [11, 9]),
        (2, [0; 4], 1, true, [7, 9]),
        (3, [0, 1, 2, 0], 1, false, [7, 9]),
        (3, [1, 0, 1, 1], 2, true, [11, 9]),
        (5, [2; 4], 1, false, [7, 9]),
    ];
    for kind in kinds {
        for (i, &(k, pad, d, ceil, [h, w])) in geoms.iter().enumerate() {
            let case = PoolCase {
                n: 1 + i % 2,
                h,
                w,
                c: [3, 5, 7, 13][i % 4],
                kind,
                k: [k, k],
                s: [2, 2],
                pad,
                d: [d, d],
                ceil,
            };
            case.check(&mut rng);
        }
        let rect =
            PoolCase { n: 2, h: 7, w: 9, c: 5, kind, k: [2, 3], s: [1, 2], pad: [0, 1, 1, 1], d: [1, 1], ceil: true };
        rect.check(&mut rng);
    }
}

#[test]
fn global_avg_pool() {
    let mut rng = Rng(3);
    let (n, h, w, c) = (2, 7, 9, 13);
    let x = rng.vec(n * h * w * c, 2.0);
    let mut want = vec![0.0; n * c];
    for b in 0..n {
        for ch in 0..c {
            let mut sum = 0.0f64;
            for y in 0..h {
                for xx in 0..w {
                    sum += x[nhwc([n, h, w, c], b, ch, y, xx)] as f64;
                }
            }
            want[b * c + ch] = (sum / (h * w) as f64) as f32;
        }
    }
    let mut bld = Builder::default();
    let input = bld.input(&[n, h, w, c], x);
    let output = bld.tensor(&[n, 1, 1, c]);
    let got = bld.run(vec![Step::GlobalAvgPool { input, output }], output);
    assert_close(&got, &want, "global avg pool");
}

// ---------------------------------------------------------------- Dense, Affine, Add, Softmax

fn dense_ref(x: &[f32], wt: &[f32], bias: &[f32], in_f: usize, a: Activation) -> Vec<f32> {
    let out_f = bias.len();
    x.chunks(in_f)
        .flat_map(|row| {
            (0..out_f).map(move |o| {
                let dot: f64 = row.iter().zip(&wt[o * in_f..]).map(|(&x, &w)| x as f64 * w as f64).sum();
                act(a, dot + bias[o] as f64) as f32
            })
        })
        .collect()
}

#[test]
fn dense() {
    let mut rng = Rng(11);
    for (i, (in_shape, in_f, out_f)) in
        [(vec![2, 13], 13, 7), (vec![2, 1, 1, 13], 13, 5), (vec![3, 5], 5, 1)].into_iter().enumerate()
    {
        let a = ACTS[i % 3];
        let x = rng.vec(in_shape.iter().product(), 2.0);
        let wt = rng.vec(in_f * out_f, 1.0);
        let bias = rng.vec(out_f, 1.0);
        let want = dense_ref(&x, &wt, &bias, in_f, a);
        let rows = x.len() / in_f;
        let mut b = Builder::default();
        let input = b.input(&in_shape, x);
        let output = b.tensor(&[rows, out_f]);
        let step = Step::Dense(Dense {
            input,
            output,
            in_features: in_f,
            out_features: out_f,
            weight: wt,
            bias,
            activation: a,
        });
        assert_close(&b.run(vec![step], output), &want, &format!("dense {in_shape:?} -> {out_f}"));
    }
}

#[test]
fn affine() {
    let mut rng = Rng(5);
    let shape = [2, 7, 9, 5];
    for (i, per_channel) in [true, false, true].into_iter().enumerate() {
        let a = ACTS[i];
        let x = rng.vec(shape.iter().product(), 4.0);
        let len = if per_channel { 5 } else { 1 };
        let (scale, shift) = (rng.vec(len, 3.0), rng.vec(len, 3.0));
        let want: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let c = if per_channel { j % 5 } else { 0 };
                act(a, v as f64 * scale[c] as f64 + shift[c] as f64) as f32
            })
            .collect();
        let mut b = Builder::default();
        let input = b.input(&shape, x);
        let output = b.tensor(&shape);
        let step = Step::Affine(Affine { input, output, channels: 5, scale, shift, activation: a });
        assert_close(&b.run(vec![step], output), &want, &format!("affine {a:?}"));
    }
}

#[test]
fn add() {
    let mut rng = Rng(6);
    let shape = [2, 11, 5, 3];
    for a in ACTS {
        let (x, y) = (rng.vec(330, 4.0), rng.vec(330, 4.0));
        let want: Vec<f32> = x.iter().zip(&y).map(|(&p, &q)| act(a, p as f64 + q as f64) as f32).collect();
        let mut b = Builder::default();
        let (ta, tb) = (b.input(&shape, x.clone()), b.input(&shape, y));
        let output = b.tensor(&shape);
        let step = Step::Add { a: ta, b: tb, output, activation: a };
        assert_close(&b.run(vec![step], output), &want, &format!("add {a:?}"));
    }
    // Both operands the same tensor.
    let mut b = Builder::default();
    let x = rng.vec(35, 1.0);
    let want: Vec<f32> = x.iter().map(|v| 2.0 * v).collect();
    let t = b.input(&[5, 7], x);
    let output = b.tensor(&[5, 7]);
    let step = Step::Add { a: t, b: t, output, activation: Activation::None };
    assert_close(&b.run(vec![step], output), &want, "add x + x");
}

#[test]
fn softmax() {
    let mut rng = Rng(8);
    let (rows, dim) = (3, 13);
    // Large magnitudes: a naive exp would overflow to inf.
    let mut x = rng.vec(rows * dim, 5.0);
    x[0] = 1000.0;
    x[dim + 1] = -1000.0;
    x.iter_mut().skip(2 * dim).for_each(|v| *v += 200.0);
    let want: Vec<f32> = x
        .chunks(dim)
        .flat_map(|r| {
            let m = r.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let e: Vec<f64> = r.iter().map(|&v| (v as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / s) as f32)
        })
        .collect();
    let mut b = Builder::default();
    let input = b.input(&[rows, dim], x);
    let output = b.tensor(&[rows, dim]);
    let got = b.run(vec![Step::Softmax { input, output }], output);
    assert_close(&got, &want, "softmax");
}

// ---------------------------------------------------------------- Permute, Pad

/// Row-major multi-index of flat index `i` in `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + i)
}

#[test]
fn permute() {
    let mut rng = Rng(9);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3, 5, 7], &[0, 2, 3, 1]),
        (&[2, 5, 7, 3], &[0, 3, 1, 2]),
        (&[3, 5, 7], &[1, 0, 2]),
        (&[2, 3, 1, 5, 7], &[4, 2, 0, 3, 1]),
        (&[13], &[0]),
    ];
    for (in_shape, perm) in cases {
        let n = in_shape.iter().product();
        let x = rng.vec(n, 1.0);
        let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
        let want: Vec<f32> = (0..n)
            .map(|o| {
                let oi = unravel(o, &out_shape);
                let mut ii = vec![0; in_shape.len()];
                for (d, &p) in perm.iter().enumerate() {
                    ii[p] = oi[d];
                }
                x[ravel(&ii, in_shape)]
            })
            .collect();
        let mut b = Builder::default();
        let input = b.input(&[n], x);
        let output = b.tensor(&out_shape);
        let step = Step::Permute { input, output, in_shape: in_shape.to_vec(), perm: perm.to_vec() };
        assert_eq!(b.run(vec![step], output), want, "permute {in_shape:?} by {perm:?}");
    }
}

/// (shape, pads)
type PadCase = (&'static [usize], &'static [(usize, usize)]);

#[test]
fn pad() {
    let mut rng = Rng(10);
    let cases: [PadCase; 3] = [
        (&[2, 5, 7, 3], &[(0, 0), (1, 2), (0, 3), (0, 0)]),
        (&[2, 5, 7, 3], &[(1, 0), (0, 0), (2, 1), (1, 2)]),
        (&[5, 7], &[(0, 1), (3, 0)]),
    ];
    for (shape, pads) in cases {
        let n = shape.iter().product();
        let x = rng.vec(n, 1.0);
        let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
        let want: Vec<f32> = (0..out_shape.iter().product())
            .map(|o| {
                let oi = unravel(o, &out_shape);
                let ii: Option<Vec<usize>> = oi
                    .iter()
                    .zip(pads)
                    .zip(shape)
                    .map(|((&i, &(b, _)), &s)| i.checked_sub(b).filter(|&v| v < s))
                    .collect();
                ii.map_or(-1.5, |ii| x[ravel(&ii, shape)])
            })
            .collect();
        let mut b = Builder::default();
        let input = b.input(shape, x);
        let output = b.tensor(&out_shape);
        let step = Step::Pad { input, output, pads: pads.to_vec(), value: -1.5 };
        assert_eq!(b.run(vec![step], output), want, "pad {shape:?} by {pads:?}");
    }
}

// ---------------------------------------------------------------- whole network

/// NCHW input -> Permute -> stem conv -> max pool -> residual block (in-place
/// add into the pooled tensor) -> depthwise -> 1x1 -> GAP -> Dense -> Softmax,
/// with tensors reusing dead tensors' arena memory.
#[test]
fn tiny_network() {
    let mut rng = Rng(12);
    let (n, h, w) = (2, 11, 9);
    let x_nchw = rng.vec(n * 3 * h * w, 2.0);
    let stem = conv(n, [h, w], [3, 8], 3, 2, [1; 4]);
    let s_shape = stem.out_shape(); // [2,6,5,8]
    let pool = PoolCase {
        n,
        h: s_shape[1],
        w: s_shape[2],
        c: 8,
        kind: PoolKind::Max,
        k: [3, 3],
        s: [2, 2],
        pad: [1; 4],
        d: [1, 1],
        ceil: false,
    };
    let p_shape = pool.out_shape(); // [2,3,3,8]
    let block_a = conv(n, [p_shape[1], p_shape[2]], [8, 8], 3, 1, [1; 4]);
    let block_b = block_a;
    let dw = conv(n, [p_shape[1], p_shape[2]], [8, 8], 3, 2, [1; 4]).groups(8);
    let d_shape = dw.out_shape();
    let pw = conv(n, [d_shape[1], d_shape[2]], [8, 12], 1, 1, [0; 4]);
    let weights: Vec<(Vec<f32>, Vec<f32>)> = [stem, block_a, block_b, dw, pw]
        .iter()
        .map(|c| (rng.vec(c.cout * c.k[0] * c.k[1] * c.cin / c.groups, 0.5), rng.vec(c.cout, 0.5)))
        .collect();
    let (fc_w, fc_b) = (rng.vec(12 * 5, 0.5), rng.vec(5, 0.5));
    let relu = Activation::Relu;

    // Reference chain.
    let mut x = vec![0.0; x_nchw.len()];
    for (i, v) in x_nchw.iter().enumerate() {
        let [b, c, y, xx] = <[usize; 4]>::try_from(unravel(i, &[n, 3, h, w])).unwrap();
        x[nhwc([n, h, w, 3], b, c, y, xx)] = *v;
    }
    let s = stem.reference(&x, &weights[0].0, &weights[0].1, None, relu);
    let p = pool.reference(&s);
    let a = block_a.reference(&p, &weights[1].0, &weights[1].1, None, relu);
    let r = block_b.reference(&a, &weights[2].0, &weights[2].1, Some(&p), relu);
    let d = dw.reference(&r, &weights[3].0, &weights[3].1, None, Activation::Clip { min: 0.0, max: 6.0 });
    let q = pw.reference(&d, &weights[4].0, &weights[4].1, None, Activation::None);
    let pixels = d_shape[1] * d_shape[2];
    let g: Vec<f32> = (0..n * 12)
        .map(|i| {
            (0..pixels).map(|px| q[(i / 12 * pixels + px) * 12 + i % 12] as f64).sum::<f64>() as f32 / pixels as f32
        })
        .collect();
    let logits = dense_ref(&g, &fc_w, &fc_b, 12, Activation::None);
    let want: Vec<f32> = logits
        .chunks(5)
        .flat_map(|r| {
            let m = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = r.iter().map(|v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect();

    // Plan: two ping-pong regions after the input, reused as tensors die.
    let mut b = Builder::default();
    let t_in = b.input(&[n, 3, h, w], x_nchw);
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
    let mut ws = weights.into_iter();
    let mut next = || ws.next().unwrap();
    let (w0, w1, w2, w3, w4) = (next(), next(), next(), next(), next());
    let steps = vec![
        Step::Permute { input: t_in, output: t_nhwc, in_shape: vec![n, 3, h, w], perm: vec![0, 2, 3, 1] },
        stem.step(t_nhwc, t_s, None, w0.0, w0.1, relu),
        Step::Pool(Pool {
            input: t_s,
            output: t_p,
            kind: PoolKind::Max,
            kernel: [3, 3],
            stride: [2, 2],
            pad: [1; 4],
            dilation: [1, 1],
        }),
        block_a.step(t_p, t_a, None, w1.0, w1.1, relu),
        block_b.step(t_a, t_r, Some(t_p), w2.0, w2.1, relu),
        dw.step(t_r, t_d, None, w3.0, w3.1, Activation::Clip { min: 0.0, max: 6.0 }),
        pw.step(t_d, t_q, None, w4.0, w4.1, Activation::None),
        Step::GlobalAvgPool { input: t_q, output: t_g },
        Step::Dense(Dense {
            input: t_g,
            output: t_l,
            in_features: 12,
            out_features: 5,
            weight: fc_w,
            bias: fc_b,
            activation: Activation::None,
        }),
        Step::Softmax { input: t_l, output: t_o },
    ];
    let (plan, data) = b.plan(steps, t_o);
    let mut backend = CpuBackend::new(&plan).unwrap();
    let first = backend.run(&data).unwrap();
    assert_close(&first, &want, "tiny network");
    // A second run over the dirty arena gives the same answer.
    assert_eq!(backend.run(&data).unwrap(), first);
}

// ---------------------------------------------------------------- errors

/// A valid one-conv plan, handed to `edit` to break.
fn conv_plan(edit: impl FnOnce(&mut Plan)) -> (Plan, Vec<f32>) {
    let case = conv(1, [5, 5], [3, 4], 3, 1, [1; 4]);
    let mut b = Builder::default();
    let input = b.input(&[1, 5, 5, 3], vec![0.5; 75]);
    let output = b.tensor(&case.out_shape());
    let step = case.step(input, output, None, vec![0.1; 108], vec![0.0; 4], Activation::None);
    let (mut plan, data) = b.plan(vec![step], output);
    edit(&mut plan);
    (plan, data)
}

fn conv_of(plan: &mut Plan) -> &mut Conv {
    match &mut plan.steps[0] {
        Step::Conv(c) => c,
        _ => unreachable!(),
    }
}

#[track_caller]
fn assert_backend_error(edit: impl FnOnce(&mut Plan)) {
    let (plan, _) = conv_plan(edit);
    match CpuBackend::new(&plan) {
        Err(Error::Backend(_)) => {}
        Err(e) => panic!("expected a backend error, got {e:?}"),
        Ok(_) => panic!("inconsistent plan accepted"),
    }
}

#[test]
fn errors() {
    let (plan, data) = conv_plan(|_| {});
    let mut backend = CpuBackend::new(&plan).unwrap();
    assert!(backend.run(&data).is_ok());
    assert!(matches!(backend.run(&data[1..]), Err(Error::InvalidInput(_))));

    assert_backend_error(|p| {
        conv_of(p).weight.pop();
    });
    assert_backend_error(|p| conv_of(p).bias.push(1.0));
    assert_backend_error(|p| conv_of(p).groups = 2);
    assert_backend_error(|p| conv_of(p).stride = [0, 1]);
    assert_backend_error(|p| conv_of(p).pad = [0; 4]);
    assert_backend_error(|p| conv_of(p).in_channels = 4);
    assert_backend_error(|p| conv_of(p).input = 99);
    assert_backend_error(|p| conv_of(p).residual = Some(0));
    assert_backend_error(|p| p.arena_len -= 1);
    assert_backend_error(|p| {
        // Output overlapping the input.
        let out = conv_of(p).output;
        p.tensors[out].offset = 0;
    });
    assert_backend_error(|p| {
        p.steps.push(Step::Pad { input: 0, output: 1, pads: vec![(1, 1)], value: 0.0 });
    });
    assert_backend_error(|p| {
        p.steps.push(Step::Permute { input: 0, output: 1, in_shape: vec![5, 15], perm: vec![0, 0] });
    });
}

// ---------------------------------------------------------------- benchmark

/// `cargo test --release --test cpu_ops -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_conv() {
    let mut rng = Rng(1);
    for (name, case) in [
        ("56x56x64 -> 64, 3x3", conv(1, [56, 56], [64, 64], 3, 1, [1; 4])),
        ("56x56x256 -> 64, 1x1", conv(1, [56, 56], [256, 64], 1, 1, [0; 4])),
    ] {
        let mut b = Builder::default();
        let input = b.input(&[1, 56, 56, case.cin], rng.vec(56 * 56 * case.cin, 1.0));
        let output = b.tensor(&case.out_shape());
        let wt = rng.vec(case.cout * case.k[0] * case.k[1] * case.cin, 1.0);
        let step = case.step(input, output, None, wt, vec![0.0; case.cout], Activation::Relu);
        let macs = step.macs(&b.tensors);
        let (plan, data) = b.plan(vec![step], output);
        let mut backend = CpuBackend::new(&plan).unwrap();
        backend.run(&data).unwrap();
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let t = std::time::Instant::now();
                backend.run(&data).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let best = times[0];
        let median = times[times.len() / 2];
        println!(
            "{name}: best {:.3} ms ({:.1} GFLOP/s), median {:.3} ms ({:.1} GFLOP/s)",
            best * 1e3,
            2.0 * macs as f64 / best / 1e9,
            median * 1e3,
            2.0 * macs as f64 / median / 1e9
        );
    }
}
