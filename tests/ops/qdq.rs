//! A QDQ model's integer arithmetic: an input quantize step, then an int8
//! conv or dense layer with the model's own parameters ([`Requant`]) or an
//! Add or global mean absorbed into a quantize step ([`QuantizedOp`]), then
//! the output's quantize step. The CPU backends must give the reference's
//! codes bit for bit; the GPU refuses quantize steps.
//!
//! The cases have zero points off 0 and 255, outputs saturating at both
//! ends, negative sums, a bias that wraps the i32 sum, odd shapes, grouped
//! and depthwise convs, strides, padding and batch 2; and scales that are
//! powers of two, whose products land on ties, where the rounding rules
//! (half to even, half away from zero for the mean) show.

use crate::build::{Builder, Rng};
use crate::cases::Case;
use webresnet::cpu::{Winograd, WinogradVariant};
use webresnet::plan::{ActQuant, Activation, Conv, Dense, Quantize, QuantizedOp, Requant, Step, TensorId};

/// Every QDQ case.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let convs: [ConvShape; 6] = [
        (1, [5, 7], [3, 5], 3, 2, [0, 0, 1, 1], 1),
        (2, [6, 5], [13, 21], 1, 1, [0; 4], 1),
        (1, [9, 9], [17, 17], 3, 1, [1; 4], 17),
        (2, [7, 6], [10, 10], 5, 2, [1, 1, 2, 2], 10),
        (1, [5, 5], [12, 18], 3, 1, [1, 0, 2, 1], 6),
        (1, [4, 70], [9, 33], 1, 1, [0; 4], 1),
    ];
    // 3x3 stride-1 convs on the int8 Winograd: odd sides, both paddings.
    let winograd: [ConvShape; 2] = [(2, [7, 5], [11, 9], 3, 1, [1; 4], 1), (1, [6, 9], [20, 7], 3, 1, [0; 4], 1)];
    let convs = convs.map(|c| (c, Winograd::Auto));
    let convs = convs.into_iter().chain(winograd.map(|c| (c, Winograd::Every(WinogradVariant::F2))));
    // (input scale, weight scale (None: random), output scale): the last
    // multiplies sums by exactly 0.5.
    let scales = [(0.03, None, 0.05), (0.03, None, 0.02), (0.5, Some(0.25), 0.25)];
    for ((n, hw, c, k, s, pad, groups), wino) in convs {
        for ((zero_x, zero_y), (in_scale, w_scale, out_scale)) in [(0, 0), (131, 97), (7, 250)].into_iter().zip(scales)
        {
            let name = format!(
                "qdq conv n{n} {hw:?} {}->{} k{k} s{s} pad{pad:?} g{groups} zero {zero_x}->{zero_y} scale {out_scale} \
                 {wino:?}",
                c[0], c[1]
            );
            v.push(with_winograd(wino, name, |b, r| {
                let x_grid = ActQuant { scale: in_scale, zero: zero_x };
                let y_grid = ActQuant { scale: out_scale, zero: zero_y };
                let x = quantized_input(b, r, &[n, hw[0], hw[1], c[0]], x_grid);
                let (oh, ow) = ((hw[0] + pad[0] + pad[2] - k) / s + 1, (hw[1] + pad[1] + pad[3] - k) / s + 1);
                let y = b.tensor(&[n, oh, ow, c[1]]);
                let k_len = k * k * c[0] / groups;
                let (weight, weight_scale, bias, codes) = layer(r, c[1], k_len, x_grid.scale, w_scale);
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
            let (weight, weight_scale, bias, codes) = layer(r, out_f, in_f, x_grid.scale, None);
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
    // (shape, input scales and zero points, output scale and zero point):
    // the last adds halves of codes.
    let adds = [
        ([2, 5, 7, 19], [(0.04, 120), (0.11, 9)], (0.035, 3)),
        ([1, 3, 3, 40], [(0.04, 120), (0.11, 9)], (0.035, 200)),
        ([1, 4, 5, 9], [(0.5, 1), (0.5, 3)], (1.0, 100)),
    ];
    for (shape, [(sa, za), (sb, zb)], (scale, zero)) in adds {
        v.push(case(format!("qdq add {shape:?} scales {sa} {sb} -> {scale} zero {zero}"), |b, r| {
            let grids = [ActQuant { scale: sa, zero: za }, ActQuant { scale: sb, zero: zb }];
            let a = quantized_input(b, r, &shape, grids[0]);
            let c = quantized_input(b, r, &shape, grids[1]);
            let out = b.tensor(&shape);
            let of = QuantizedOp::Add { b: c.1, grids };
            (vec![a.0, c.0, quantize(a.1, out, ActQuant { scale, zero }, Some(of))], out)
        }));
    }
    // The last takes a quarter of each sum, on the input's grid.
    for (shape, scale, zero) in [([2, 7, 7, 23], 0.02, 5), ([1, 1, 13, 8], 0.02, 250), ([2, 2, 2, 11], 0.1, 70)] {
        v.push(case(format!("qdq global mean {shape:?} scale {scale} zero {zero}"), |b, r| {
            let grid = ActQuant { scale: if scale == 0.1 { 0.1 } else { 0.05 }, zero: 64 };
            let x = quantized_input(b, r, &shape, grid);
            let out = b.tensor(&[shape[0], 1, 1, shape[3]]);
            let of = QuantizedOp::Mean { grid };
            (vec![x.0, quantize(x.1, out, ActQuant { scale, zero }, Some(of))], out)
        }));
    }
    v
}

/// (batch, [h, w], [in, out] channels, kernel, stride, pad, groups)
type ConvShape = (usize, [usize; 2], [usize; 2], usize, usize, [usize; 4], usize);

fn case(name: String, build: impl FnOnce(&mut Builder, &mut Rng) -> (Vec<Step>, TensorId)) -> Case {
    with_winograd(Winograd::Auto, name, build)
}

fn with_winograd(
    winograd: Winograd,
    name: String,
    build: impl FnOnce(&mut Builder, &mut Rng) -> (Vec<Step>, TensorId),
) -> Case {
    let mut rng = Rng::from_name(&name);
    let mut b = Builder::default();
    let (steps, output) = build(&mut b, &mut rng);
    let (plan, data) = b.plan(steps, output);
    Case { name, plan, data, exact: true, winograd }
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

/// `n` outputs of `k` int8 weights: (weights, their scales (`scale`, else
/// random), the f32 bias, its codes at input scale `sx`). The last output's
/// bias code sits near i32's top, where the sum wraps.
fn layer(r: &mut Rng, n: usize, k: usize, sx: f32, scale: Option<f32>) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<i32>) {
    let scales: Vec<f32> = (0..n).map(|_| scale.unwrap_or_else(|| 0.002 + r.uniform(0.001))).collect();
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
