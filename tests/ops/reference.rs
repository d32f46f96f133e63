//! The oracle: a naive interpreter of a plan, one loop nest per step kind,
//! written in logical terms with f64 accumulation. It shares nothing with
//! the backends but the plan types, so a kernel bug cannot hide in both.

use webresnet::plan::{Activation, Conv, Plan, Pool, PoolKind, Step, TensorInfo};

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
        Step::Conv(c) => conv(c, read(c.input), &t[c.input].shape, &t[c.output].shape, c.residual.map(read)),
        Step::Pool(p) => pool(p, read(p.input), &t[p.input].shape, &t[p.output].shape),
        Step::GlobalAvgPool { input, .. } => global_avg_pool(read(*input), &t[*input].shape),
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
    let (cin_g, cout_g) = (c.in_channels / c.groups, c.out_channels / c.groups);
    let [kh, kw] = c.kernel;
    let mut out = vec![0.0; os.iter().product()];
    for n in 0..os[0] {
        for oc in 0..c.out_channels {
            let g = oc / cout_g;
            for oy in 0..os[1] {
                for ox in 0..os[2] {
                    let mut acc = c.bias[oc] as f64;
                    for ky in 0..kh {
                        let iy = coord(oy, ky, c.stride[0], c.dilation[0], c.pad[0]);
                        for kx in 0..kw {
                            let ix = coord(ox, kx, c.stride[1], c.dilation[1], c.pad[1]);
                            if iy < 0 || ix < 0 || iy >= ins[1] as isize || ix >= ins[2] as isize {
                                continue;
                            }
                            for icg in 0..cin_g {
                                let xv = x[nhwc(ins, n, g * cin_g + icg, iy as usize, ix as usize)];
                                let wv = c.weight[((oc * kh + ky) * kw + kx) * cin_g + icg];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    let i = nhwc(os, n, oc, oy, ox);
                    if let Some(r) = res {
                        acc += r[i] as f64;
                    }
                    out[i] = act(c.activation, acc);
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
