//! Many cases as one plan, for backends whose load costs far more than a run
//! (a GPU device and its shader compiles): each case's tensors keep their
//! layout at their own base in one arena, and the plan's input and output
//! both span the whole arena, so one run feeds and returns every case.

use webresnet::plan::{Conv, Dense, Layout, Plan, PlanInput, PlanOutput, QuantizedOp, Step, TensorInfo, ARENA_ALIGN};

pub struct Batch {
    pub plan: Plan,
    pub data: Vec<f32>,
    /// Each case's output range in the batch's output.
    pub outputs: Vec<std::ops::Range<usize>>,
}

pub fn merge<'a>(cases: impl IntoIterator<Item = (&'a Plan, &'a [f32])>) -> Batch {
    let (mut tensors, mut steps, mut data, mut outputs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (plan, input) in cases {
        let (base, ids) = (data.len(), tensors.len());
        data.resize(base + plan.arena_len.next_multiple_of(ARENA_ALIGN), 0.0);
        data[base + plan.tensors[plan.input.tensor].offset..][..input.len()].copy_from_slice(input);
        let moved = |t: &TensorInfo| TensorInfo { offset: t.offset + base, ..t.clone() };
        tensors.extend(plan.tensors.iter().map(moved));
        steps.extend(plan.steps.iter().map(|s| renumber(s, ids)));
        outputs.push(
            plan.tensors[plan.output.tensor].range().start + base..plan.tensors[plan.output.tensor].range().end + base,
        );
    }
    let all = tensors.len();
    tensors.push(TensorInfo { shape: vec![data.len()], layout: Layout::Plain, offset: 0, name: "batch".into() });
    let plan = Plan {
        input: PlanInput { name: "batch".into(), tensor: all, shape: vec![data.len()] },
        output: PlanOutput { name: "batch".into(), tensor: all, shape: vec![data.len()], is_probability: false },
        tensors,
        steps,
        arena_len: data.len(),
        fused_nodes: 0,
        preprocess: Default::default(),
        labels: None,
    };
    Batch { plan, data, outputs }
}

/// `step` with every tensor id moved up by `by`.
fn renumber(step: &Step, by: usize) -> Step {
    let mut s = step.clone();
    match &mut s {
        Step::Conv(Conv { input, output, residual, .. }) => {
            *input += by;
            *output += by;
            if let Some(r) = residual {
                *r += by;
            }
        }
        Step::Pool(p) => {
            p.input += by;
            p.output += by;
        }
        Step::Dense(Dense { input, output, .. }) => {
            *input += by;
            *output += by;
        }
        Step::Affine(a) => {
            a.input += by;
            a.output += by;
        }
        Step::Quantize(q) => {
            q.input += by;
            q.output += by;
            if let Some(QuantizedOp::Add { b, .. }) = q.of.as_mut() {
                *b += by;
            }
        }
        Step::Add { a, b, output, .. } => {
            *a += by;
            *b += by;
            *output += by;
        }
        Step::GlobalAvgPool { input, output }
        | Step::Softmax { input, output }
        | Step::Permute { input, output, .. }
        | Step::Pad { input, output, .. } => {
            *input += by;
            *output += by;
        }
    }
    s
}
