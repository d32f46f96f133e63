//! A QDQ model's integer arithmetic: an input quantize step, then an int8
//! conv or dense layer with the model's own parameters ([`Requant`]) or an
//! Add or global mean absorbed into a quantize step ([`QuantizedOp`]), then
//! the output's quantize step. The CPU backends must give the reference's
//! codes bit for bit; the GPU refuses quantize steps.
//!
//! The cases have zero points off 0 and 255, outputs saturating at both
//! ends, negative sums, a bias that wraps the i32 sum, odd shapes, grouped
//! and depthwise convs, strides, padding and batch 2.

use crate::build::{Builder, Rng};
use crate::cases::Case;
use webresnet::cpu::Winograd;
use webresnet::plan::{ActQuant, Activation, Conv, Dense, Quantize, QuantizedOp, Requant, Step, TensorId};

/// Every QDQ case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // (batch, [h, w], [in, out] channels, kernel, stride, pad, groups)
    let convs: [(usize, [usize; 2], [usize; 2], usize, usize, [usize; 4], usize); 6] = [
        (1, [5, 7], [3, 5], 3, 2, [0, 0, 1, 1], 1),
        (2, [6, 5], [13, 21], 1, 1, [0; 4], 1),
        (1, [9, 9], [17, 17], 3, 1, [1; 4], 17),
        (2, [7, 6], [10, 10], 5, 2, [1, 1, 2, 2], 10),
        (1, [5, 5], [12, 18], 3, 1, [1, 0, 2, 1], 6),
        (1, [4, 70], [9, 33], 1, 1, [0; 4], 1),
    ];
    for (n, hw, c, k, s, pad, groups) in convs {
        for (zero_x, zero_y, out_scale) in [(0, 0, 0.05), (131, 97, 0.02), (7, 250, 0.004)] {
            let name = format!(
                "qdq conv n{n} {hw:?} {}->{} k{k} s{s} pad{pad:?} g{groups} zero {zero_x}->{zero_y} scale {out_scale}",
                c[0], c[1]
            );
            v.push(case(name, |b, r| {
                let x_grid = ActQuant { scale: 0.03, zero: zero_x };
                let y_grid = ActQuant { scale: out_scale, zero: zero_y };
                let x = quantized_input(b, r, &[n, hw[0], hw[1], c[0]], x_grid);
                let (oh, ow) = ((hw[0] + pad[0] + pad[2] - k) / s + 1, (hw[1] + pad[1] + pad[3] - k) / s + 1);
                let y = b.tensor(&[n, oh, ow, c[1]]);
                let k_len = k * k * c[0] / groups;
                let (weight, weight_scale, bias, codes) = layer(r, c[1], k_len, x_grid.scale);
                let conv = Conv {
                    input: x.1,
                    output: y,
                    residual: None,
                    in_channels: c[0],
                    out_channels: c[1],
                    kernel: [k, k],
                    stride: [s, s],
                    pad,
                    dilation: [1, 1],
                    groups,
                    weight,
                    bias,
                    activation: Activation::None,
                    int8: true,
                    input_quant: Some(x_grid),
                    requant: Some(Requant { weight_scale, bias: codes, output: Some(y_grid) }),
                };
                let out = b.tensor(&[n, oh, ow, c[1]]);
                (vec![x.0, Step::Conv(conv), quantize(y, out, y_grid, None)], out)
            }));
        }
    }
    for (rows, in_f, out_f) in [(2, 37, 11), (1, 300, 9)] {
        v.push(case(format!("qdq dense {rows}x{in_f} -> {out_f}"), |b, r| {
            let (x_grid, y_grid) = (ActQuant { scale: 0.05, zero: 40 }, ActQuant { scale: 0.03, zero: 130 });
            let x = quantized_input(b, r, &[rows, in_f], x_grid);
            let y = b.tensor(&[rows, out_f]);
            let (weight, weight_scale, bias, codes) = layer(r, out_f, in_f, x_grid.scale);
            let dense = Dense {
                input: x.1,
                output: y,
                in_features: in_f,
                out_features: out_f,
                weight,
                bias,
                activation: Activation::None,
                int8: true,
                input_quant: Some(x_grid),
                requant: Some(Requant { weight_scale, bias: codes, output: Some(y_grid) }),
            };
            let out = b.tensor(&[rows, out_f]);
            (vec![x.0, Step::Dense(dense), quantize(y, out, y_grid, None)], out)
        }));
    }
    for (shape, zero) in [([2, 5, 7, 19], 3), ([1, 3, 3, 40], 200)] {
        v.push(case(format!("qdq add {shape:?} zero {zero}"), |b, r| {
            let grids = [ActQuant { scale: 0.04, zero: 120 }, ActQuant { scale: 0.11, zero: 9 }];
            let a = quantized_input(b, r, &shape, grids[0]);
            let c = quantized_input(b, r, &shape, grids[1]);
            let out = b.tensor(&shape);
            let of = QuantizedOp::Add { b: c.1, grids };
            (vec![a.0, c.0, quantize(a.1, out, ActQuant { scale: 0.035, zero }, Some(of))], out)
        }));
    }
    for (shape, zero) in [([2, 7, 7, 23], 5), ([1, 1, 13, 8], 250)] {
        v.push(case(format!("qdq global mean {shape:?} zero {zero}"), |b, r| {
            let grid = ActQuant { scale: 0.05, zero: 64 };
            let x = quantized_input(b, r, &shape, grid);
            let out = b.tensor(&[shape[0], 1, 1, shape[3]]);
            let of = QuantizedOp::Mean { grid };
            (vec![x.0, quantize(x.1, out, ActQuant { scale: 0.02, zero }, Some(of))], out)
        }));
    }
    v
}

fn case(name: String, build: impl FnOnce(&mut Builder, &mut Rng) -> (Vec<Step>, TensorId)) -> Case {
    let mut rng = Rng::from_name(&name);
    let mut b = Builder::default();
    let (steps, output) = build(&mut b, &mut rng);
    let (plan, data) = b.plan(steps, output);
    Case { name, plan, data, exact: true, winograd: Winograd::Auto }
}

fn quantize(input: TensorId, output: TensorId, grid: ActQuant, of: Option<QuantizedOp>) -> Step {
    let zero = i32::from(grid.zero);
    Step::Quantize(Quantize { input, output, scale: grid.scale, zero, lo: 0, hi: 255, of })
}

/// Random values over more than `grid`'s range, and the step putting them on it.
fn quantized_input(b: &mut Builder, r: &mut Rng, shape: &[usize], grid: ActQuant) -> (Step, TensorId) {
    let span = 300.0 * grid.scale;
    let x = b.input(shape, r.vec(shape.iter().product(), span));
    let q = b.tensor(shape);
    (quantize(x, q, grid, None), q)
}

/// `n` outputs of `k` int8 weights: (weights, their scales, the f32 bias,
/// its codes at input scale `sx`). The last output's bias code sits near
/// i32's top, where the sum wraps.
fn layer(r: &mut Rng, n: usize, k: usize, sx: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<i32>) {
    let scales: Vec<f32> = (0..n).map(|_| 0.002 + r.uniform(0.001)).collect();
    let weight = scales
        .iter()
        .flat_map(|&s| (0..k).map(|_| (r.uniform(127.4).round()) * s).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    let mut codes: Vec<i32> = (0..n).map(|_| (r.uniform(3000.0)) as i32).collect();
    if let Some(last) = codes.last_mut() {
        *last = i32::MAX - 100;
    }
    let bias = codes.iter().zip(&scales).map(|(&c, &s)| c as f32 * sx * s).collect();
    (weight, scales, bias, codes)
}
