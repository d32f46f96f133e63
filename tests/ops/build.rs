//! Hand-built plans: seeded data and an arena layout helper.

use webresnet::plan::{Layout, Plan, PlanInput, PlanOutput, Step, TensorId, TensorInfo, ARENA_ALIGN};
use webresnet::preprocess::PreprocessConfig;

pub use webresnet::seeded::Rng;

/// Lays tensors out in an arena. The plan's input is one Plain tensor
/// spanning every tensor created by [`Builder::input`], so a single-input
/// plan can feed any number of step operands.
#[derive(Default)]
pub struct Builder {
    pub tensors: Vec<TensorInfo>,
    end: usize,
    inputs: Vec<(TensorId, Vec<f32>)>,
}

impl Builder {
    pub fn tensor(&mut self, shape: &[usize]) -> TensorId {
        let offset = self.end.next_multiple_of(ARENA_ALIGN);
        self.tensor_at(shape, offset)
    }

    /// A tensor at a chosen offset, e.g. reusing a dead tensor's memory.
    pub fn tensor_at(&mut self, shape: &[usize], offset: usize) -> TensorId {
        let layout = if shape.len() == 4 { Layout::Nhwc } else { Layout::Plain };
        let id = self.tensors.len();
        self.tensors.push(TensorInfo { shape: shape.to_vec(), layout, offset, name: format!("t{id}") });
        self.end = self.end.max(offset + shape.iter().product::<usize>());
        id
    }

    /// An operand with data; must be created before any non-input tensor.
    pub fn input(&mut self, shape: &[usize], data: Vec<f32>) -> TensorId {
        assert_eq!(data.len(), shape.iter().product::<usize>());
        let id = self.tensor(shape);
        self.inputs.push((id, data));
        id
    }

    /// A second tensor id over the same arena range as `of`.
    pub fn alias(&mut self, of: TensorId) -> TensorId {
        let t = self.tensors[of].clone();
        self.tensor_at(&t.shape, t.offset)
    }

    /// The plan and its input data.
    pub fn plan(mut self, steps: Vec<Step>, output: TensorId) -> (Plan, Vec<f32>) {
        let span = self.inputs.iter().map(|&(id, _)| self.tensors[id].range().end).max().unwrap_or(0);
        let mut data = vec![0.0; span];
        for (id, d) in &self.inputs {
            data[self.tensors[*id].range()].copy_from_slice(d);
        }
        let input = self.tensor_at(&[span], 0);
        let out_shape = self.tensors[output].shape.clone();
        let plan = Plan {
            input: PlanInput { name: "in".into(), tensor: input, shape: vec![span] },
            output: PlanOutput { name: "out".into(), tensor: output, shape: out_shape, is_probability: false },
            tensors: self.tensors,
            steps,
            arena_len: self.end,
            fused_nodes: 0,
            preprocess: PreprocessConfig::default(),
            labels: None,
        };
        (plan, data)
    }
}
