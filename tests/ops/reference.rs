//! The oracle: a naive interpreter of a plan, one loop nest per step kind,
//! written in logical terms with f64 accumulation. It shares nothing with
//! the backends but the plan types, so a kernel bug cannot hide in both.

use webresnet::plan::{ActQuant, Activation, Conv, Plan, Pool, PoolKind, QuantizedOp, Requant, Step, TensorInfo};

/// Runs `plan` on `input` and returns its output, as every backend must.
pub fn run(plan: &Plan, input: &[f32]) -> Vec<f32> {
    let t = &plan.tensors;
    let mut arena = vec![0.0f32; plan.arena_len];
    arena[t[plan.input.tensor].range()].copy_from_slice(input);
    for step in &plan.steps {
        let out = step_output(step, t, &arena);
        arena[t[step.output()].range()].copy_from_slice(&out);
    }
    arena[t[plan.output.tensor].range()].to_vec()
}

fn step_output(step: &Step, t: &[TensorInfo], arena: &[f32]) -> Vec<f32> {
    let read = |id: usize| &arena[t[id].range()];
    match step {
        Step::Conv(c) => match (c.input_quant, &c.requant) {
            (Some(x), Some(r @ Requant { output: Some(y), .. })) => {
                // The sums of code products, exact in f64.
                let codes: Vec<f32> = read(c.input).iter().map(|&v| (code(v, x) - i32::from(x.zero)) as f32).collect();
                let per = c.weight.len() / c.out_channels;
                let w: Vec<f32> =
                    c.weight.iter().enumerate().map(|(i, &v)| weight_code(v, r.weight_scale[i / per])).collect();
                let sums = conv_sums(c, &codes, &w, &t[c.input].shape, &t[c.output].shape);
                let o = |i: usize| i % c.out_channels;
                sums.iter().enumerate().map(|(i, &acc)| requantized(acc as i64, r, o(i), x, *y)).collect()
            }
            _ => conv(c, read(c.input), &t[c.input].shape, &t[c.output].shape, c.residual.map(read)),
        },
        Step::Pool(p) => pool(p, read(p.input), &t[p.input].shape, &t[p.output].shape),
        Step::GlobalAvgPool { input, .. } => global_avg_pool(read(*input), &t[*input].shape),
        Step::Dense(d) if d.requant.as_ref().is_some_and(|r| r.output.is_some()) && d.input_quant.is_some() => {
            let (Some(x), Some(r @ Requant { output: Some(y), .. })) = (d.input_quant, &d.requant) else {
                unreachable!("matched above")
            };
            read(d.input)
                .chunks(d.in_features)
                .flat_map(|row| {
                    (0..d.out_features).map(move |o| {
                        let w = &d.weight[o * d.in_features..][..d.in_features];
                        let acc: i64 = row
                            .iter()
                            .zip(w)
                            .map(|(&v, &w)| {
                                i64::from(code(v, x) - i32::from(x.zero)) * weight_code(w, r.weight_scale[o]) as i64
                            })
                            .sum();
                        requantized(acc, r, o, x, *y)
                    })
                })
                .collect()
        }
        Step::Dense(d) => read(d.input)
            .chunks(d.in_features)
            .flat_map(|row| {
                (0..d.out_features).map(move |o| {
                    let w = &d.weight[o * d.in_features..][..d.in_features];
                    let dot: f64 = row.iter().zip(w).map(|(&x, &w)| x as f64 * w as f64).sum();
                    act(d.activation, dot + d.bias[o] as f64)
                })
            })
            .collect(),
        Step::Affine(a) => {
            let at = |v: &[f32], c: usize| v[if v.len() == 1 { 0 } else { c }] as f64;
            let x = read(a.input);
            let c = |i: usize| i % a.channels;
            (0..x.len()).map(|i| act(a.activation, x[i] as f64 * at(&a.scale, c(i)) + at(&a.shift, c(i)))).collect()
        }
        Step::Add { a, b, activation, .. } => {
            read(*a).iter().zip(read(*b)).map(|(&x, &y)| act(*activation, x as f64 + y as f64)).collect()
        }
        Step::Softmax { input, .. } => {
            let dim = *t[*input].shape.last().expect("softmax over a tensor with dimensions");
            read(*input).chunks(dim).flat_map(softmax_row).collect()
        }
        Step::Permute { input, in_shape, perm, .. } => permute(read(*input), in_shape, perm),
        Step::Pad { input, pads, value, .. } => pad(read(*input), &t[*input].shape, pads, *value),
        // ONNX Runtime's QLinearAdd: each code times its scale over the
        // output's, plus the zero points' share, in two fused multiply-adds.
        Step::Quantize(q) if matches!(q.of, Some(QuantizedOp::Add { .. })) => {
            let Some(QuantizedOp::Add { b, grids: [ga, gb] }) = q.of else { unreachable!("matched above") };
            let (ra, rb) = (ga.scale / q.scale, gb.scale / q.scale);
            let fixed = q.zero as f32 - (ra * f32::from(ga.zero) + rb * f32::from(gb.zero));
            read(q.input)
                .iter()
                .zip(read(b))
                .map(|(&a, &b)| {
                    let v = (code(a, ga) as f32).mul_add(ra, (code(b, gb) as f32).mul_add(rb, fixed));
                    (v.round_ties_even().clamp(q.lo as f32, q.hi as f32) - q.zero as f32) * q.scale
                })
                .collect()
        }
        // ONNX Runtime's QLinearGlobalAveragePool: the sum of codes less
        // their zero point, times input scale / (output scale × count) as
        // f32, rounded half away from zero (exact in f64 at these sizes).
        Step::Quantize(q) if matches!(q.of, Some(QuantizedOp::Mean { .. })) => {
            let Some(QuantizedOp::Mean { grid }) = q.of else { unreachable!("matched above") };
            let s = &t[q.input].shape;
            let (pixels, channels) = (s[1] * s[2], s[3]);
            let scale = grid.scale / (q.scale * pixels as f32);
            let x = read(q.input);
            (0..s[0] * channels)
                .map(|i| {
                    let (n, c) = (i / channels, i % channels);
                    let acc: i64 = (0..pixels)
                        .map(|p| i64::from(code(x[(n * pixels + p) * channels + c], grid) - i32::from(grid.zero)))
                        .sum();
                    let v = (acc as f64 * scale as f64).round() + f64::from(q.zero);
                    (v.clamp(q.lo as f64, q.hi as f64) - f64::from(q.zero)) as f32 * q.scale
                })
                .collect()
        }
        // ONNX QuantizeLinear (f32 division, round half to even, saturate), then DequantizeLinear.
        Step::Quantize(q) => read(q.input)
            .iter()
            .map(|&x| {
                let code = ((x / q.scale).round_ties_even() + q.zero as f32).clamp(q.lo as f32, q.hi as f32);
                (code - q.zero as f32) * q.scale
            })
            .collect(),
    }
}

/// ONNX QuantizeLinear's code of `v` on `g`.
fn code(v: f32, g: ActQuant) -> i32 {
    ((v / g.scale).round_ties_even() + f32::from(g.zero)).clamp(0.0, 255.0) as i32
}

/// The int8 code of weight `w` at scale `s`.
fn weight_code(w: f32, s: f32) -> f32 {
    (w / s).round()
}

/// ONNX Runtime's requantization of output `o`'s sum of code products
/// (QLinearConv, QGemm): the bias code added in wrapping i32, times
/// `s_x × s_w / s_y` in f32, clamped to the codes, rounded half to even.
fn requantized(acc: i64, r: &Requant, o: usize, x: ActQuant, y: ActQuant) -> f32 {
    let sum = (acc + i64::from(r.bias[o])) as i32;
    let zero = f32::from(y.zero);
    let v = sum as f32 * (x.scale * r.weight_scale[o] / y.scale);
    v.clamp(-zero, 255.0 - zero).round_ties_even() * y.scale
}

fn act(a: Activation, x: f64) -> f32 {
    (match a {
        Activation::None => x,
        Activation::Relu => x.max(0.0),
        Activation::Clip { min, max } => x.max(min as f64).min(max as f64),
    }) as f32
}

/// NHWC index of logical element (n, c, y, x) in `shape` = `[n, h, w, c]`.
fn nhwc(shape: &[usize], n: usize, c: usize, y: usize, x: usize) -> usize {
    ((n * shape[1] + y) * shape[2] + x) * shape[3] + c
}

/// Signed input coordinate of tap `k` for output `o` along one axis.
fn coord(o: usize, k: usize, stride: usize, dil: usize, pad_before: usize) -> isize {
    (o * stride + k * dil) as isize - pad_before as isize
}

/// Direct convolution; weight OHWI.
fn conv(c: &Conv, x: &[f32], ins: &[usize], os: &[usize], res: Option<&[f32]>) -> Vec<f32> {
    let sums = conv_sums(c, x, &c.weight, ins, os);
    let acc = |i: usize| sums[i] + c.bias[i % c.out_channels] as f64 + res.map_or(0.0, |r| r[i] as f64);
    (0..sums.len()).map(|i| act(c.activation, acc(i))).collect()
}

/// `c`'s sums of products of `x` and weights `w` (OHWI), NHWC.
fn conv_sums(c: &Conv, x: &[f32], w: &[f32], ins: &[usize], os: &[usize]) -> Vec<f64> {
    let (cin_g, cout_g) = (c.in_channels / c.groups, c.out_channels / c.groups);
    let [kh, kw] = c.kernel;
    let mut out = vec![0.0; os.iter().product()];
    for n in 0..os[0] {
        for oc in 0..c.out_channels {
            let g = oc / cout_g;
            for oy in 0..os[1] {
                for ox in 0..os[2] {
                    let mut acc = 0f64;
                    for ky in 0..kh {
                        let iy = coord(oy, ky, c.stride[0], c.dilation[0], c.pad[0]);
                        for kx in 0..kw {
                            let ix = coord(ox, kx, c.stride[1], c.dilation[1], c.pad[1]);
                            if iy < 0 || ix < 0 || iy >= ins[1] as isize || ix >= ins[2] as isize {
                                continue;
                            }
                            for icg in 0..cin_g {
                                let xv = x[nhwc(ins, n, g * cin_g + icg, iy as usize, ix as usize)];
                                let wv = w[((oc * kh + ky) * kw + kx) * cin_g + icg];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out[nhwc(os, n, oc, oy, ox)] = acc;
                }
            }
        }
    }
    out
}

/// Windows clipped to the padded extent; padded cells ignored by max,
/// counted by average only with `count_include_pad`.
fn pool(p: &Pool, x: &[f32], ins: &[usize], os: &[usize]) -> Vec<f32> {
    let mut out = vec![0.0; os.iter().product()];
    let padded =
        |i: isize, size: usize, before: usize, after: usize| i >= -(before as isize) && i < (size + after) as isize;
    for n in 0..os[0] {
        for c in 0..os[3] {
            for oy in 0..os[1] {
                for ox in 0..os[2] {
                    let (mut max, mut sum, mut inside, mut in_pad) = (f64::NEG_INFINITY, 0.0, 0, 0);
                    for ky in 0..p.kernel[0] {
                        for kx in 0..p.kernel[1] {
                            let iy = coord(oy, ky, p.stride[0], p.dilation[0], p.pad[0]);
                            let ix = coord(ox, kx, p.stride[1], p.dilation[1], p.pad[1]);
                            if !padded(iy, ins[1], p.pad[0], p.pad[2]) || !padded(ix, ins[2], p.pad[1], p.pad[3]) {
                                continue;
                            }
                            in_pad += 1;
                            if iy >= 0 && ix >= 0 && (iy as usize) < ins[1] && (ix as usize) < ins[2] {
                                let v = x[nhwc(ins, n, c, iy as usize, ix as usize)] as f64;
                                max = max.max(v);
                                sum += v;
                                inside += 1;
                            }
                        }
                    }
                    out[nhwc(os, n, c, oy, ox)] = match p.kind {
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

fn global_avg_pool(x: &[f32], s: &[usize]) -> Vec<f32> {
    let pixels = s[1] * s[2];
    (0..s[0] * s[3])
        .map(|i| {
            let (n, c) = (i / s[3], i % s[3]);
            let sum: f64 = (0..pixels).map(|p| x[(n * pixels + p) * s[3] + c] as f64).sum();
            (sum / pixels as f64) as f32
        })
        .collect()
}

/// Subtracts the row maximum first: a naive exp would overflow on large logits.
fn softmax_row(r: &[f32]) -> Vec<f32> {
    let m = r.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let e: Vec<f64> = r.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| (v / s) as f32).collect()
}

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

fn permute(x: &[f32], in_shape: &[usize], perm: &[usize]) -> Vec<f32> {
    let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    (0..x.len())
        .map(|o| {
            let oi = unravel(o, &out_shape);
            let mut ii = vec![0; in_shape.len()];
            for (d, &p) in perm.iter().enumerate() {
                ii[p] = oi[d];
            }
            x[ravel(&ii, in_shape)]
        })
        .collect()
}

fn pad(x: &[f32], shape: &[usize], pads: &[(usize, usize)], value: f32) -> Vec<f32> {
    let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
    (0..out_shape.iter().product())
        .map(|o| {
            let inside: Option<Vec<usize>> = unravel(o, &out_shape)
                .iter()
                .zip(pads)
                .zip(shape)
                .map(|((&i, &(b, _)), &s)| i.checked_sub(b).filter(|&v| v < s))
                .collect();
            inside.map_or(value, |ii| x[ravel(&ii, shape)])
        })
        .collect()
}
