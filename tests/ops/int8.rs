//! How far the CPU's int8 kernels may be from the f32 reference on a case
//! with an int8 step (whose weights are exactly int8 codes × scales).
//!
//! The kernels quantize the step's input per tensor: `levels` steps of
//! `s = (max(0, max x) - min(0, min x)) / levels` span its range (0 held
//! exactly), so each input value is off by at most `s / 2`, and padding not
//! at all. The weights are exact. An output `Σ_i w[o][i] x_i + b` is then off
//! by at most `s / 2 × Σ_i |w[o][i]|`; bias, residual and activation (which
//! is 1-Lipschitz) add nothing to that. The bound is the largest over `o`.

use webresnet::plan::{Plan, Step};

/// The bound for `plan` (one int8 step at most), None if it has none.
pub fn error_bound(plan: &Plan, data: &[f32], levels: u8) -> Option<f32> {
    let mut int8 = plan.steps.iter().filter_map(|s| match s {
        Step::Conv(c) if c.int8 => Some((c.input, &c.weight, c.out_channels)),
        Step::Dense(d) if d.int8 => Some((d.input, &d.weight, d.out_features)),
        _ => None,
    });
    let (input, weight, outputs) = int8.next()?;
    assert!(int8.next().is_none(), "the int8 error bound covers one int8 step");
    let x = &data[plan.tensors[input].range()];
    let (lo, hi) = x.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let step = (hi - lo) / f32::from(levels);
    let widest =
        weight.chunks_exact(weight.len() / outputs).map(|w| w.iter().map(|v| v.abs()).sum::<f32>()).fold(0.0, f32::max);
    Some(step / 2.0 * widest)
}

/// Whether the plan's int8 steps run on the int8 kernels: grouped convs
/// run on the f32 ones.
pub fn on_int8_kernels(plan: &Plan) -> bool {
    plan.steps.iter().all(|s| !matches!(s, Step::Conv(c) if c.int8 && c.groups > 1))
}
