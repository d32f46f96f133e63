//! What a session holds: the model file, its plan and backend, and the
//! lock that runs calls one at a time. The exported calls (`session.rs`)
//! are thin wrappers over these.

use std::cell::{Cell, RefCell};

use js_sys::Uint8Array;
use wasm_bindgen::JsValue;

use super::backend::build;
use super::errors::js_error;
use super::import::import;
use super::lock::Turnstile;
use crate::backend::{Backend, BackendKind};
use crate::error::{Error, Result};
use crate::explain::{explain, Explanation};
use crate::gpu::Frame;
use crate::plan::{CompileOptions, Features, Plan};
use crate::postprocess::{label_for, softmax, top_k, Prediction};
use crate::preprocess::{crop_window, decode, image_to_tensor, rgba_to_tensor};

/// The compiled model and the backend built from it. Kept together so a
/// re-plan swaps both or neither.
pub(super) struct Compiled {
    pub plan: Plan,
    pub backend: Backend,
}

/// An image as it crosses the boundary: an RGBA frame, encoded bytes, or
/// (WebGPU only) an image object the browser copies to the GPU itself.
pub(super) enum Picture {
    Rgba { rgba: Vec<u8>, width: u32, height: u32 },
    Encoded(Vec<u8>),
    Frame { source: JsValue, width: u32, height: u32 },
}

impl Picture {
    /// The picture as the GPU takes it, if it is pixels (encoded bytes are decoded on the CPU).
    fn frame(&self) -> Option<Frame<'_>> {
        match self {
            Picture::Rgba { rgba, width, height } => Some(Frame::Rgba { rgba, width: *width, height: *height }),
            Picture::Frame { source, width, height } => {
                Some(Frame::External { source, width: *width, height: *height })
            }
            Picture::Encoded(_) => None,
        }
    }

    /// The backend's output for this picture (as far as `features` when
    /// given). On WebGPU, pixels are preprocessed there, in the same submit
    /// as the network. RGBA bytes the GPU refuses (too large for a texture, or
    /// a plan that takes no picture) go the CPU's way, which has the last word.
    async fn run(&self, c: &mut Compiled, features: Option<&Features>) -> Result<Vec<f32>> {
        if let (Backend::Gpu(g), Some(frame)) = (&mut c.backend, self.frame()) {
            let out = match features {
                Some(f) => g.run_frame_features(frame, f).await,
                None => g.run_frame(frame).await,
            };
            match out {
                Err(Error::Limit(_) | Error::InvalidInput(_)) if matches!(self, Picture::Rgba { .. }) => {}
                out => return out,
            }
        }
        let input = self.to_tensor(&c.plan)?;
        match features {
            Some(f) => c.backend.run_features(&input, f).await,
            None => c.backend.run(&input).await,
        }
    }

    fn to_tensor(&self, plan: &Plan) -> Result<Vec<f32>> {
        self.to_tensor_sized(plan).map(|(tensor, _)| tensor)
    }

    /// The tensor, and the picture's width and height.
    fn to_tensor_sized(&self, plan: &Plan) -> Result<(Vec<f32>, [u32; 2])> {
        match self {
            Picture::Rgba { rgba, width, height } => {
                Ok((rgba_to_tensor(rgba, *width, *height, &plan.preprocess)?, [*width, *height]))
            }
            Picture::Encoded(bytes) => {
                let img = decode(bytes)?;
                Ok((image_to_tensor(&img, &plan.preprocess)?, [img.width(), img.height()]))
            }
            Picture::Frame { .. } => {
                Err(Error::InvalidInput("an image object is taken as it is only on WebGPU: pass its pixels".into()))
            }
        }
    }
}

pub(super) struct Inner {
    pub kind: Cell<BackendKind>,
    /// The model file as given, outside the wasm heap: a new input shape is
    /// planned from it again, as planning took the decoded weights.
    pub model: Uint8Array,
    /// `None` only while a call has taken it out to run.
    pub compiled: RefCell<Option<Compiled>>,
    pub adapter_info: RefCell<String>,
    /// Class names set from JS; they outlive re-plans, which rebuild `Plan::labels`.
    pub labels: RefCell<Option<Vec<String>>>,
    pub turnstile: Turnstile,
}

impl Inner {
    /// A session's state around a freshly compiled model.
    pub(super) fn new(kind: BackendKind, model: Uint8Array, compiled: Compiled) -> Inner {
        Inner {
            kind: Cell::new(kind),
            model,
            adapter_info: RefCell::new(compiled.backend.adapter_info()),
            compiled: RefCell::new(Some(compiled)),
            labels: Default::default(),
            turnstile: Default::default(),
        }
    }

    /// Runs `f` on the compiled model, exclusively. The model is taken out of
    /// its cell for the duration so no `RefCell` borrow lives across an await.
    pub(super) async fn with_compiled<T>(
        &self,
        f: impl AsyncFnOnce(&mut Compiled, &Inner) -> Result<T>,
    ) -> std::result::Result<T, JsValue> {
        let _turn = self.turnstile.acquire().await;
        let mut c = self
            .compiled
            .borrow_mut()
            .take()
            .ok_or_else(|| js_error("BACKEND", "an earlier call on this session failed irrecoverably"))?;
        let out = f(&mut c, self).await;
        *self.compiled.borrow_mut() = Some(c);
        Ok(out?)
    }

    /// Imports the model again and compiles it for `shape`, then builds a
    /// fresh backend; `c` is replaced only when all of it succeeds.
    pub(super) async fn replan(&self, c: &mut Compiled, shape: Vec<usize>) -> Result<()> {
        let (graph, check) = import(&self.model)?;
        let plan = graph.and_then(|g| crate::plan::compile_owned(g, &CompileOptions { input_shape: Some(shape) }));
        check.verify().await?;
        let plan = plan?;
        let backend = build(&plan, self.kind.get(), None).await?;
        *self.adapter_info.borrow_mut() = backend.adapter_info();
        *c = Compiled { plan, backend };
        Ok(())
    }

    /// Builds `kind` from the plan already compiled; on failure `c` keeps its backend.
    pub(super) async fn rebuild(&self, c: &mut Compiled, kind: BackendKind) -> Result<()> {
        let backend = build(&c.plan, kind, None).await?;
        *self.adapter_info.borrow_mut() = backend.adapter_info();
        self.kind.set(kind);
        c.backend = backend;
        Ok(())
    }

    /// One inference of one image: on WebGPU a black pixel through the
    /// frame kernel too (so its pipelines compile now, not at the first
    /// picture), falling back to a tensor of zeros where the plan takes no picture.
    pub(super) async fn warm_up(&self) -> std::result::Result<(), JsValue> {
        self.with_compiled(async |c, inner| {
            inner.ensure_single(c).await?;
            let black = Picture::Rgba { rgba: vec![0, 0, 0, 255], width: 1, height: 1 };
            if matches!(c.backend, Backend::Gpu(_)) && black.run(c, None).await.is_ok() {
                return Ok(());
            }
            c.backend.run(&vec![0.0; c.plan.input.shape.iter().product()]).await.map(drop)
        })
        .await
    }

    /// Makes sure the plan takes one image (batch 1), as classification needs.
    async fn ensure_single(&self, c: &mut Compiled) -> Result<()> {
        if c.plan.input.shape.first() != Some(&1) {
            let shape = [&[1], &c.plan.input.shape[1..]].concat();
            self.replan(c, shape).await?;
        }
        Ok(())
    }

    /// Raw inference; a shape other than the plan's is planned first.
    pub(super) async fn infer(&self, c: &mut Compiled, data: &[f32], shape: Vec<usize>) -> Result<Vec<f32>> {
        if c.plan.input.shape != shape {
            self.replan(c, shape).await?;
        }
        c.backend.run(data).await
    }

    pub(super) async fn classify(&self, c: &mut Compiled, picture: &Picture, k: usize) -> Result<Vec<Prediction>> {
        self.ensure_single(c).await?;
        let out = picture.run(c, None).await?;
        let probs = if c.plan.output.is_probability { out } else { softmax(&out) };
        let labels = self.labels.borrow();
        Ok(top_k(&probs, k, labels.as_deref().or(c.plan.labels.as_deref())))
    }

    /// Class `class`'s heatmap (the top-1's when `None`), its label, the
    /// top-k, from one pass (the steps before the head's pooling on the
    /// backend, then the head), and the part of the picture the model saw as
    /// fractions of its size, `[left, top, right, bottom]`.
    pub(super) async fn explain(
        &self,
        c: &mut Compiled,
        picture: &Picture,
        class: Option<usize>,
        k: usize,
    ) -> Result<(Explanation, String, Vec<Prediction>, [f64; 4])> {
        self.ensure_single(c).await?;
        let (input, [w, h]) = picture.to_tensor_sized(&c.plan)?;
        let [l, t, r, b] = crop_window(w, h, &c.plan.preprocess);
        let seen = [l / f64::from(w), t / f64::from(h), r / f64::from(w), b / f64::from(h)];
        let e = explain(&c.plan, &mut c.backend, &input, class).await?;
        let labels = self.labels.borrow();
        let labels = labels.as_deref().or(c.plan.labels.as_deref());
        let top = top_k(&e.probabilities, k, labels);
        let label = label_for(e.class, labels);
        Ok((e, label, top, seen))
    }

    /// The pooled features: the plan's steps up to its global pooling, on
    /// the same backend.
    pub(super) async fn embed(&self, c: &mut Compiled, picture: &Picture) -> Result<Vec<f32>> {
        self.ensure_single(c).await?;
        let features = c.plan.features()?;
        picture.run(c, Some(&features)).await
    }
}
