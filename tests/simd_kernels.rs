//! The wasm SIMD128 kernels against the portable kernels (the reference,
//! itself checked against naive loops in `cpu_ops`) on odd shapes. Runs in
//! Node 20 under wasm-bindgen-test: `make wasm-test`.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]

// Shared with cpu_ops, which uses the parts this file doesn't.
#[allow(dead_code)]
mod common;

use common::{assert_close, Builder, Rng};
use wasm_bindgen_test::wasm_bindgen_test;
use webresnet::cpu::{CpuBackend, Kernels};
use webresnet::plan::{Activation, Conv, Dense, Plan, Step};

const ACTS: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Clip { min: -0.5, max: 1.5 }];

/// Runs the plan with both kernel sets; the SIMD output must match the portable one.
fn compare(plan: &Plan, data: &[f32], what: &str) {
    let run = |k| CpuBackend::with_kernels(plan, k).expect("plan accepted").run(data).expect("run");
    assert_close(&run(Kernels::Simd128), &run(Kernels::Portable), what);
}

/// `[n, h, w, cin] -> cout` with a square kernel `k`, stride `s`, padding `p`
/// on every side, dilation `d`, `groups`.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    hw: [usize; 2],
    c: [usize; 2],
    k: usize,
    s: usize,
    p: usize,
    d: usize,
    groups: usize,
}

const fn case(hw: [usize; 2], c: [usize; 2], k: usize, s: usize, p: usize) -> Case {
    Case { n: 1, hw, c, k, s, p, d: 1, groups: 1 }
}

impl Case {
    fn out(&self, size: usize) -> usize {
        (size + 2 * self.p - (self.d * (self.k - 1) + 1)) / self.s + 1
    }

    /// With no residual, a separate one, and one updated in place.
    fn check(&self, rng: &mut Rng, i: usize) {
        let [cin, cout] = self.c;
        let os = [self.n, self.out(self.hw[0]), self.out(self.hw[1]), cout];
        for residual in 0..3 {
            let a = ACTS[(i + residual) % 3];
            let mut b = Builder::default();
            let input =
                b.input(&[self.n, self.hw[0], self.hw[1], cin], rng.vec(self.n * self.hw[0] * self.hw[1] * cin, 2.0));
            let r = (residual > 0).then(|| b.input(&os, rng.vec(os.iter().product(), 2.0)));
            let output = if residual == 2 { b.alias(r.expect("residual")) } else { b.tensor(&os) };
            let step = Step::Conv(Conv {
                input,
                output,
                residual: r,
                in_channels: cin,
                out_channels: cout,
                kernel: [self.k; 2],
                stride: [self.s; 2],
                pad: [self.p; 4],
                dilation: [self.d; 2],
                groups: self.groups,
                weight: rng.vec(cout * self.k * self.k * cin / self.groups, 1.0),
                bias: rng.vec(cout, 1.0),
                activation: a,
            });
            let (plan, data) = b.plan(vec![step], output);
            compare(&plan, &data, &format!("{self:?} residual {residual} {a:?}"));
        }
    }
}

fn check_all(cases: &[Case]) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (i, c) in cases.iter().enumerate() {
        c.check(&mut rng, i);
    }
}

#[wasm_bindgen_test]
fn conv_general() {
    check_all(&[
        // Channels not a multiple of 4; output columns not a multiple of the 8-wide panel.
        case([7, 9], [5, 7], 3, 1, 1),
        case([11, 9], [3, 13], 3, 2, 1),
        case([13, 11], [3, 64], 7, 2, 3),
        Case { n: 2, ..case([9, 7], [6, 10], 3, 1, 2) },
        Case { d: 2, ..case([11, 9], [5, 9], 3, 2, 2) },
        // Short taps gathered into rows, over several row blocks (96 rows each).
        case([21, 19], [3, 10], 3, 1, 1),
        // More rows than one row block and several K blocks (K = 9 * 100).
        case([15, 13], [100, 17], 3, 1, 1),
    ]);
}

#[wasm_bindgen_test]
fn conv_pointwise() {
    check_all(&[
        case([7, 9], [5, 3], 1, 1, 0),
        case([11, 9], [7, 12], 1, 2, 0),
        case([5, 7], [5, 3], 1, 1, 1),
        // K split into blocks inside one segment (1100 channels).
        case([3, 5], [1100, 9], 1, 1, 0),
        Case { n: 3, ..case([4, 3], [6, 20], 1, 1, 0) },
    ]);
}

#[wasm_bindgen_test]
fn conv_grouped_and_depthwise() {
    check_all(&[
        Case { groups: 2, ..case([7, 9], [6, 10], 3, 1, 1) },
        Case { groups: 3, ..case([9, 7], [9, 15], 3, 2, 1) },
        Case { groups: 4, ..case([5, 5], [8, 4], 1, 2, 0) },
        // Depthwise: channel counts hitting the 16-, 4- and 1-wide paths.
        Case { groups: 7, ..case([9, 11], [7, 7], 3, 1, 1) },
        Case { groups: 35, ..case([11, 9], [35, 35], 3, 2, 1) },
        Case { groups: 20, ..case([8, 8], [20, 20], 5, 2, 2) },
        Case { groups: 13, d: 2, ..case([9, 9], [13, 13], 3, 1, 2) },
    ]);
}

#[wasm_bindgen_test]
fn dense() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, (rows, in_f, out_f)) in [(1, 2049, 1001), (3, 7, 5), (5, 600, 13)].into_iter().enumerate() {
        let mut b = Builder::default();
        let input = b.input(&[rows, in_f], rng.vec(rows * in_f, 2.0));
        let output = b.tensor(&[rows, out_f]);
        let step = Step::Dense(Dense {
            input,
            output,
            in_features: in_f,
            out_features: out_f,
            weight: rng.vec(in_f * out_f, 1.0),
            bias: rng.vec(out_f, 1.0),
            activation: ACTS[i % 3],
        });
        let (plan, data) = b.plan(vec![step], output);
        compare(&plan, &data, &format!("dense {rows}x{in_f} -> {out_f}"));
    }
}
