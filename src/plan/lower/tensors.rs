//! The lowering's activation tensors: creating them, and converting between
//! the NHWC and plain layouts only where an op needs the other one.

use super::{shape_err, Lowerer, MAX_ACTIVATION_ELEMENTS};
use crate::error::{Error, Result};
use crate::model::Node;
use crate::plan::{Layout, Step, TensorId, TensorInfo};

impl Lowerer<'_> {
    pub(super) fn new_tensor(
        &mut self,
        logical: Vec<usize>,
        layout: Layout,
        name: &str,
        view_of: Option<TensorId>,
    ) -> Result<TensorId> {
        let n = logical.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n.is_none_or(|n| n > MAX_ACTIVATION_ELEMENTS) {
            return Err(Error::Limit(format!("activation '{name}' of shape {logical:?} is too large")));
        }
        let shape = match layout {
            Layout::Nhwc => vec![logical[0], logical[2], logical[3], logical[1]],
            Layout::Plain => logical.clone(),
        };
        let d = &mut self.draft;
        d.tensors.push(TensorInfo { shape, layout, offset: 0, name: name.to_string() });
        d.logical.push(logical);
        d.view_of.push(view_of.map(|b| d.view_of[b].unwrap_or(b)));
        let t = d.tensors.len() - 1;
        if let Some(b) = view_of {
            self.same_grid(b, t);
        }
        Ok(t)
    }

    pub(super) fn logical(&self, t: TensorId) -> &[usize] {
        &self.draft.logical[t]
    }

    pub(super) fn layout(&self, t: TensorId) -> Layout {
        self.draft.tensors[t].layout
    }

    pub(super) fn push(&mut self, step: Step) {
        self.draft.steps.push(step);
    }

    /// The same logical tensor stored NHWC (converting a plain 4-D tensor once).
    pub(super) fn nhwc(&mut self, t: TensorId, node: &Node) -> Result<TensorId> {
        if self.layout(t) == Layout::Nhwc {
            return Ok(t);
        }
        let shape = self.logical(t).to_vec();
        if shape.len() != 4 {
            return Err(shape_err(node, format!("expected a 4-D NCHW input, got shape {shape:?}")));
        }
        if let Some(&c) = self.to_nhwc.get(&t) {
            return Ok(c);
        }
        let name = self.draft.tensors[t].name.clone() + "/nhwc";
        let out = if shape[2] * shape[3] == 1 || shape[1] == 1 {
            // Same bytes either way: a view.
            self.new_tensor(shape, Layout::Nhwc, &name, Some(t))?
        } else {
            let out = self.new_tensor(shape.clone(), Layout::Nhwc, &name, None)?;
            self.push(Step::Permute { input: t, output: out, in_shape: shape, perm: vec![0, 2, 3, 1] });
            self.same_grid(t, out);
            out
        };
        self.to_nhwc.insert(t, out);
        Ok(out)
    }

    /// The same logical tensor in plain row-major order.
    pub(super) fn plain(&mut self, t: TensorId) -> Result<TensorId> {
        if self.layout(t) == Layout::Plain {
            return Ok(t);
        }
        if let Some(&c) = self.to_plain.get(&t) {
            return Ok(c);
        }
        let shape = self.logical(t).to_vec();
        let name = self.draft.tensors[t].name.clone() + "/nchw";
        let out = if shape[2] * shape[3] == 1 || shape[1] == 1 {
            self.new_tensor(shape, Layout::Plain, &name, Some(t))?
        } else {
            let out = self.new_tensor(shape, Layout::Plain, &name, None)?;
            let phys = self.draft.tensors[t].shape.clone();
            self.push(Step::Permute { input: t, output: out, in_shape: phys, perm: vec![0, 3, 1, 2] });
            self.same_grid(t, out);
            out
        };
        self.to_plain.insert(t, out);
        Ok(out)
    }

    /// A plain view with a new logical shape (same element count).
    pub(super) fn view(&mut self, t: TensorId, shape: Vec<usize>, name: &str) -> Result<TensorId> {
        let base = self.plain(t)?;
        self.new_tensor(shape, Layout::Plain, name, Some(base))
    }

    /// A physical transpose of `x` (in plain layout) by `perm`.
    pub(super) fn permute(&mut self, x: TensorId, perm: &[usize], name: &str) -> Result<TensorId> {
        let src = self.plain(x)?;
        let shape = self.logical(src).to_vec();
        let out = self.new_tensor(perm.iter().map(|&p| shape[p]).collect(), Layout::Plain, name, None)?;
        self.push(Step::Permute { input: src, output: out, in_shape: shape, perm: perm.to_vec() });
        self.same_grid(src, out);
        Ok(out)
    }
}
