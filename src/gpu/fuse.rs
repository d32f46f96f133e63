//! Plan steps the GPU runs inside a later step's dispatch: the permute of an
//! NCHW input that a conv's gather can read as it is, and the global average
//! pooling that the dense head after it can average itself. The CPU runs the
//! plan's steps as they are; only the GPU lowering reads this.
//!
//! A folded step's reader reads the folded step's input later than the plan
//! says, so that input must survive until then. Where the plan reuses the
//! memory of its own input before (the stem's output over the input image),
//! the GPU gives the input a region of its own.

use std::ops::Range;

use super::exec::gathers_scalars;
use crate::plan::{Plan, Step, TensorId};

/// How the GPU runs one plan step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Its own dispatches.
    Own,
    /// None: a later step reads this step's input itself.
    Folded,
    /// A conv that reads this NCHW tensor in place of its NHWC input.
    ReadsNchw(TensorId),
    /// A dense layer that averages this NHWC feature map in place of its pooled input.
    ReadsMap(TensorId),
}

/// How the GPU runs a plan.
pub(crate) struct Fusion {
    /// Each step's [`Role`].
    pub roles: Vec<Role>,
    /// The plan's input lives in a region of its own, past the plan's tensors.
    pub own_input: bool,
}

/// The [`Fusion`] of `plan`.
pub(crate) fn fusion(plan: &Plan) -> Fusion {
    let mut roles = vec![Role::Own; plan.steps.len()];
    let mut own_input = false;
    for (i, step) in plan.steps.iter().enumerate() {
        let Some((j, src, moved)) = fold(plan, i, step) else { continue };
        if roles[j] != Role::Own {
            continue;
        }
        own_input |= moved;
        roles[i] = Role::Folded;
        roles[j] = match step {
            Step::Permute { .. } => Role::ReadsNchw(src),
            _ => Role::ReadsMap(src),
        };
    }
    Fusion { roles, own_input }
}

/// The step that can run `step` (step `i`) itself, the tensor it then
/// reads, and whether that is the plan's input moved to its own region.
fn fold(plan: &Plan, i: usize, step: &Step) -> Option<(usize, TensorId, bool)> {
    let (src, out) = match step {
        Step::Permute { input, output, in_shape, perm } if perm == &[0, 2, 3, 1] && in_shape.len() == 4 => {
            (*input, *output)
        }
        Step::GlobalAvgPool { input, output } => (*input, *output),
        _ => return None,
    };
    let j = sole_reader(plan, i + 1, out)?;
    let fits = match (step, &plan.steps[j]) {
        // A residual read of the same tensor needs it written in NHWC.
        (Step::Permute { .. }, Step::Conv(c)) => {
            c.input == out
                && c.residual.is_none_or(|r| !overlaps(&range(plan, r), &range(plan, out)))
                && gathers_scalars(c)
        }
        (Step::GlobalAvgPool { .. }, Step::Dense(d)) => {
            let t = &plan.tensors[src];
            place(plan, d.input) == place(plan, out)
                && t.shape.len() == 4
                && d.in_features == t.shape[3]
                && plan.tensors[d.input].len() == t.shape[0] * d.in_features
        }
        _ => false,
    };
    // The reader reads `src` late: nothing in between may overwrite it, and
    // its own output must not, as other workgroups may still be reading.
    let kept = (i + 1..=j).all(|k| !overlaps(&range(plan, plan.steps[k].output()), &range(plan, src)));
    // The input, read by this step alone, can move out of the steps' way.
    let movable = src == plan.input.tensor && sole_reader(plan, 0, src) == Some(i);
    match (fits, kept) {
        (true, true) => Some((j, src, false)),
        (true, false) if movable && matches!(step, Step::Permute { .. }) => Some((j, src, true)),
        _ => None,
    }
}

/// The one step from `from` on that reads `out` before it is overwritten,
/// where the plan's output is not `out` (or part of it) as left unwritten.
fn sole_reader(plan: &Plan, from: usize, out: TensorId) -> Option<usize> {
    let r = range(plan, out);
    let mut reader = None;
    for (k, s) in plan.steps.iter().enumerate().skip(from) {
        if s.inputs().iter().any(|&t| overlaps(&range(plan, t), &r)) {
            if reader.is_some() {
                return None;
            }
            reader = Some(k);
        }
        if overlaps(&range(plan, s.output()), &r) {
            return reader;
        }
    }
    // Never overwritten: the plan's output must not be (part of) it.
    let result = range(plan, plan.output.tensor);
    if r.start <= result.start && result.end <= r.end {
        return None;
    }
    reader
}

fn range(plan: &Plan, t: TensorId) -> Range<usize> {
    plan.tensors[t].range()
}

fn place(plan: &Plan, t: TensorId) -> (usize, usize) {
    let r = range(plan, t);
    (r.start, r.len())
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}
