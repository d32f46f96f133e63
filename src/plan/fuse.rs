//! Peephole fusion over the lowered steps, then dead-step removal.
//!
//! - per-channel affines (BatchNormalization, Mul/Add by constants) and
//!   activations fold into the Conv/Dense/Affine that produced their input;
//! - zero Pad folds into the following Conv (or count-including AvgPool);
//! - `Add(conv, other)` becomes the conv's residual epilogue;
//! - a quantize step absorbs the Add or GlobalAvgPool of quantized tensors
//!   that made its input ([`QuantizedOp`]);
//! - an int8 layer with the model's integer parameters learns the grid of
//!   the quantize step that alone reads it ([`mark_requant`]).

use super::lower::Draft;
use super::{mean_in_range, Activation, Affine, Layout, PoolKind, QuantizedOp, Requant, Step, TensorId};

/// Use counts per base tensor (views count as uses of their base).
fn use_counts(d: &Draft) -> Vec<usize> {
    let mut uses = vec![0; d.tensors.len()];
    for s in &d.steps {
        for t in s.inputs() {
            uses[base(d, t)] += 1;
        }
    }
    uses[base(d, d.output)] += 1;
    uses
}

fn base(d: &Draft, t: TensorId) -> TensorId {
    d.view_of[t].unwrap_or(t)
}

/// Index of the step writing `t`.
fn producer(d: &Draft, t: TensorId) -> Option<usize> {
    d.steps.iter().position(|s| s.output() == t)
}

/// Scales and shifts output channel `o` of a weight matrix laid out `[out][..]`.
fn fold_scale_shift(weight: &mut [f32], bias: &mut [f32], a: &Affine) {
    let per = weight.len() / bias.len().max(1);
    for (o, b) in bias.iter_mut().enumerate() {
        let s = a.scale[if a.scale.len() == 1 { 0 } else { o }];
        let t = a.shift[if a.shift.len() == 1 { 0 } else { o }];
        weight[o * per..(o + 1) * per].iter_mut().for_each(|w| *w *= s);
        *b = *b * s + t;
    }
}

fn is_identity(a: &Affine) -> bool {
    a.scale.iter().all(|&s| s == 1.0) && a.shift.iter().all(|&t| t == 0.0)
}

/// Tries to absorb Affine step `i` into the producer of its input. Returns true on success.
fn absorb_affine(d: &mut Draft, i: usize, uses: &[usize]) -> bool {
    // Match before cloning: most steps are convs with large weights.
    let Step::Affine(a) = &d.steps[i] else { return false };
    let a = a.clone();
    let Some(p) = sole_producer(d, a.input, uses) else { return false };
    let ok = match &mut d.steps[p] {
        // After a residual add only a pure activation can follow into the epilogue.
        Step::Conv(c) if c.activation == Activation::None && (c.residual.is_none() || is_identity(&a)) => {
            fold_scale_shift(&mut c.weight, &mut c.bias, &a);
            // The weights and bias no longer are the model's codes times their scales.
            c.requant = None;
            c.activation = a.activation;
            c.output = a.output;
            true
        }
        Step::Dense(dn) if dn.activation == Activation::None && a.channels == dn.out_features => {
            fold_scale_shift(&mut dn.weight, &mut dn.bias, &a);
            dn.requant = None;
            dn.activation = a.activation;
            dn.output = a.output;
            true
        }
        Step::Affine(prev) if prev.activation == Activation::None && prev.channels == a.channels => {
            let c = a.channels;
            let pick = |v: &[f32], o: usize| v[if v.len() == 1 { 0 } else { o }];
            let n =
                if prev.scale.len().max(prev.shift.len()).max(a.scale.len()).max(a.shift.len()) == 1 { 1 } else { c };
            let scale: Vec<f32> = (0..n).map(|o| pick(&prev.scale, o) * pick(&a.scale, o)).collect();
            let shift: Vec<f32> =
                (0..n).map(|o| pick(&prev.shift, o) * pick(&a.scale, o) + pick(&a.shift, o)).collect();
            prev.scale = scale;
            prev.shift = shift;
            prev.activation = a.activation;
            prev.output = a.output;
            true
        }
        Step::Add { activation, output, .. } if *activation == Activation::None && is_identity(&a) => {
            *activation = a.activation;
            *output = a.output;
            true
        }
        _ => false,
    };
    if ok {
        d.steps.remove(i);
    }
    ok
}

/// Folds a zero Pad over H/W into the single Conv (or count-including AvgPool) that reads it.
fn absorb_pad(d: &mut Draft, i: usize, uses: &[usize]) -> bool {
    let Step::Pad { input, output, pads, value } = &d.steps[i] else { return false };
    let (input, output, pads, value) = (*input, *output, pads.clone(), *value);
    let spatial_only = pads.len() == 4 && pads[0] == (0, 0) && pads[3] == (0, 0);
    if value != 0.0 || !spatial_only || d.tensors[output].layout != Layout::Nhwc || uses[output] != 1 {
        return false;
    }
    let extra = [pads[1].0, pads[2].0, pads[1].1, pads[2].1];
    let Some(c) = d.steps.iter().position(|s| s.inputs().first() == Some(&output)) else { return false };
    let pad = match &mut d.steps[c] {
        Step::Conv(conv) => {
            conv.input = input;
            &mut conv.pad
        }
        Step::Pool(p) if p.kind == PoolKind::Avg { count_include_pad: true } => {
            p.input = input;
            &mut p.pad
        }
        _ => return false,
    };
    for k in 0..4 {
        pad[k] += extra[k];
    }
    d.steps.remove(i);
    true
}

/// Turns `Add(a, b)` into a Conv residual epilogue when `a` or `b` is a plain conv output used only here.
fn absorb_add(d: &mut Draft, i: usize, uses: &[usize]) -> bool {
    let Step::Add { a, b, output, activation } = d.steps[i] else { return false };
    let candidate = |t: TensorId| -> Option<usize> {
        let p = sole_producer(d, t, uses)?;
        matches!(&d.steps[p], Step::Conv(c) if c.activation == Activation::None && c.residual.is_none()).then_some(p)
    };
    // Prefer the conv computed last: it then stays close to its inputs.
    let choice = match (candidate(a), candidate(b)) {
        (Some(pa), Some(pb)) => Some(if pa > pb { (pa, b) } else { (pb, a) }),
        (Some(pa), None) => Some((pa, b)),
        (None, Some(pb)) => Some((pb, a)),
        (None, None) => None,
    };
    let Some((p, other)) = choice else { return false };
    let Step::Conv(conv) = &mut d.steps[p] else { return false };
    conv.residual = Some(other);
    conv.output = output;
    conv.activation = activation;
    // The fused conv takes the Add's place (p < i), where both operands exist.
    let fused = d.steps.remove(p);
    d.steps[i - 1] = fused;
    true
}

/// Folds the Add or GlobalAvgPool whose result quantize step `i` alone
/// reads into it, when that op's inputs are on grids.
fn absorb_into_quantize(d: &mut Draft, i: usize, uses: &[usize]) -> bool {
    let Step::Quantize(q) = &d.steps[i] else { return false };
    if q.of.is_some() || q.grid().is_none() {
        return false;
    }
    let Some(p) = sole_producer(d, q.input, uses) else { return false };
    let (x, of) = match &d.steps[p] {
        Step::Add { a, b, activation: Activation::None, .. } => match (d.grids.get(a), d.grids.get(b)) {
            (Some(&ga), Some(&gb)) => (*a, QuantizedOp::Add { b: *b, grids: [ga, gb] }),
            _ => return false,
        },
        Step::GlobalAvgPool { input: x, .. } => match d.grids.get(x) {
            Some(&grid) if mean_in_range(grid.scale, q.scale, pixels(d, *x)) => (*x, QuantizedOp::Mean { grid }),
            _ => return false,
        },
        _ => return false,
    };
    let Step::Quantize(q) = &mut d.steps[i] else { return false };
    q.input = x;
    q.of = Some(of);
    d.steps.remove(p);
    true
}

/// The step that makes `t`, where `t` is a whole tensor (no view, not the
/// plan's input) read by one step alone.
fn sole_producer(d: &Draft, t: TensorId, uses: &[usize]) -> Option<usize> {
    if d.view_of[t].is_some() || uses[t] != 1 || t == d.input {
        return None;
    }
    producer(d, t)
}

/// Height × width of NHWC tensor `t`.
fn pixels(d: &Draft, t: TensorId) -> usize {
    match d.tensors[t].shape.as_slice() {
        [_, h, w, _] => h * w,
        _ => 0,
    }
}

/// Runs the fusion passes to a fixed point, then drops dead steps;
/// returns how many steps were absorbed into others.
pub(super) fn fuse(d: &mut Draft) -> usize {
    let mut absorbed = 0;
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < d.steps.len() {
            let uses = use_counts(d);
            if absorb_affine(d, i, &uses)
                || absorb_pad(d, i, &uses)
                || absorb_add(d, i, &uses)
                || absorb_into_quantize(d, i, &uses)
            {
                absorbed += 1;
                changed = true;
            } else {
                i += 1;
            }
        }
        if !changed {
            break;
        }
    }
    remove_dead_steps(d);
    mark_requant(d);
    absorbed
}

/// Gives each int8 layer with [`Requant`] parameters whose output only a
/// quantize step reads that step's grid: its kernels then round to it with
/// the integer arithmetic of a fused QLinearConv or QGemm.
fn mark_requant(d: &mut Draft) {
    let uses = use_counts(d);
    for i in 0..d.steps.len() {
        let Step::Quantize(q) = &d.steps[i] else { continue };
        let Some(grid) = q.grid() else { continue };
        let Some(p) = sole_producer(d, q.input, &uses) else { continue };
        let requant: Option<&mut Requant> = match &mut d.steps[p] {
            Step::Conv(c) if c.activation == Activation::None && c.residual.is_none() => c.requant.as_mut(),
            Step::Dense(dn) if dn.activation == Activation::None => dn.requant.as_mut(),
            _ => None,
        };
        if let Some(r) = requant {
            r.output = Some(grid);
        }
    }
}

/// Drops steps whose results never reach the output.
fn remove_dead_steps(d: &mut Draft) {
    let mut needed = vec![false; d.tensors.len()];
    needed[base(d, d.output)] = true;
    let mut keep = vec![false; d.steps.len()];
    for (k, s) in d.steps.iter().enumerate().rev() {
        if needed[base(d, s.output())] {
            keep[k] = true;
            for t in s.inputs() {
                needed[base(d, t)] = true;
            }
        }
    }
    let mut k = 0;
    d.steps.retain(|_| {
        k += 1;
        keep[k - 1]
    });
}
