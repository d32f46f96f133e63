//! The `Session` class JS sees.

use std::rc::Rc;

use js_sys::{Array, Float32Array, Float64Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::backend::build;
use super::digest::hash_check;
use super::engine::tune_cpu_kernels;
use super::errors::{install_panic_hook, invalid};
use super::import::{import, ModelStream};
use super::mark;
use super::state::{Compiled, Inner, Picture};
use crate::backend::{Backend, BackendKind};
use crate::error::Error;
use crate::plan::CompileOptions;
use crate::postprocess::Prediction;

/// What a method JS calls resolves to, or rejects with.
type JsResult = std::result::Result<JsValue, JsValue>;

/// A model loaded onto one backend. Create it with `Session.create`.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
    cold_start: ColdStart,
}

/// How the first backend got its GPU pipelines (see `loadStats`).
#[derive(Clone, Copy, Default)]
struct ColdStart {
    model_bytes: usize,
    compiled_ahead: usize,
    compiled_at_build: usize,
    ready_at_byte: Option<usize>,
}

#[wasm_bindgen]
impl Session {
    /// Imports and compiles `model` (ONNX, project model file or torch/safetensors
    /// weights) and builds the backend: `"webgpu"` or `"cpu"`. `shape` is the
    /// input shape to plan for; by default the model's declared one, symbolic
    /// dimensions set to 1. Giving it spares `infer` a re-plan (GPU pipelines
    /// and all) on the first call. `streamed`, a [`ModelStream`] that was
    /// given the same bytes as they arrived, spares reading them again.
    /// The session keeps `model` (not its decoded weights, which the plan
    /// took) to plan a new input shape: leave its bytes unchanged.
    /// `warmUp`: if given, it is called once the backend is built, and one
    /// inference of one image of zeros follows (pipelines compile and buffers
    /// settle then, not in the first real call), overlapping the hash check.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] model: JsValue,
        backend: String,
        shape: Option<Vec<u32>>,
        streamed: Option<ModelStream>,
        #[wasm_bindgen(js_name = warmUp)] warm_up: Option<Function>,
    ) -> std::result::Result<Session, JsValue> {
        install_panic_hook();
        tune_cpu_kernels();
        let kind = BackendKind::parse(&backend)?;
        mark("start");
        // A typed array is read in place; anything else is copied into one.
        let model = model.dyn_into::<Uint8Array>().unwrap_or_else(|other| Uint8Array::new(&other));
        let len = model.length() as usize;
        let (streamed, ahead) = streamed.map_or((None, None), |s| s.finish(len));
        let (graph, check) = match streamed {
            Some((header, graph)) => {
                let check = hash_check(&model, &header)?;
                mark("streamed");
                (Ok(graph), check)
            }
            None => import(&model)?,
        };
        let input_shape = shape.map(|s| s.into_iter().map(|d| d as usize).collect());
        let mut cold_start = ColdStart { model_bytes: len, ..ColdStart::default() };
        let built = async {
            let plan = crate::plan::compile_owned(graph?, &CompileOptions { input_shape })?;
            mark("plan");
            let ready = match (kind, ahead) {
                (BackendKind::WebGpu, Some(a)) => a.ready().await,
                _ => None,
            };
            let prepared = ready.filter(|r| r.prepared.input_shape() == plan.input.shape).map(|r| {
                cold_start.compiled_ahead = r.prepared.pipeline_count();
                cold_start.ready_at_byte = Some(r.at_byte);
                r.prepared
            });
            let backend = build(&plan, kind, prepared).await?;
            if let Backend::Gpu(g) = &backend {
                cold_start.compiled_at_build = g.pipelines_compiled_at_build();
            }
            mark("backend");
            Ok::<_, Error>(Inner::new(kind, model.clone(), Compiled { plan, backend }))
        }
        .await;
        // While the digests finish (the data section's last pieces), the
        // warm-up runs; no result leaves before the hash passed.
        let warmed = match (&built, warm_up) {
            (Ok(inner), Some(started)) => {
                // Progress reporting: a throwing callback must not fail the load.
                let _ = started.call0(&JsValue::NULL);
                let warmed = inner.warm_up().await;
                mark("warmup");
                warmed
            }
            _ => Ok(()),
        };
        // Before `built`'s error: a tampered file is a MODEL_FORMAT error, not
        // whatever its altered graph did to the planner.
        check.verify().await?;
        mark("verified");
        let inner = built?;
        warmed?;
        Ok(Session { inner: Rc::new(inner), cold_start })
    }

    /// How the backend `create` built got its GPU pipelines: `{ modelBytes,
    /// pipelinesCompiledAhead, pipelinesCompiledAtBuild, pipelinesReadyAtByte }`.
    /// Pipelines compiled ahead come from a model file's header while it
    /// downloads (a `ModelStream` made for WebGPU); `pipelinesReadyAtByte`
    /// is how much of the file had arrived when they were ready (null when
    /// none were compiled ahead). Zeros on the CPU.
    #[wasm_bindgen(js_name = loadStats)]
    pub fn load_stats(&self) -> JsValue {
        let c = self.cold_start;
        let o = Object::new();
        let n = |v: usize| JsValue::from(v as f64);
        // Plain objects accept any property; these sets cannot fail.
        let _ = Reflect::set(&o, &"modelBytes".into(), &n(c.model_bytes));
        let _ = Reflect::set(&o, &"pipelinesCompiledAhead".into(), &n(c.compiled_ahead));
        let _ = Reflect::set(&o, &"pipelinesCompiledAtBuild".into(), &n(c.compiled_at_build));
        let _ = Reflect::set(&o, &"pipelinesReadyAtByte".into(), &c.ready_at_byte.map_or(JsValue::NULL, n));
        o.into()
    }

    /// `"webgpu"` or `"cpu"`.
    pub fn backend(&self) -> String {
        self.inner.kind.get().name().to_string()
    }

    /// Rebuilds the backend as `"webgpu"` or `"cpu"` from the model already
    /// loaded (no re-import): after a lost GPU device, `"webgpu"` opens a new
    /// device and `"cpu"` falls back. On failure the session keeps its old backend.
    #[wasm_bindgen(js_name = setBackend)]
    pub async fn set_backend(&self, backend: String) -> std::result::Result<(), JsValue> {
        let kind = BackendKind::parse(&backend)?;
        let inner = self.inner.clone();
        inner.with_compiled(async |c, inner| inner.rebuild(c, kind).await).await
    }

    /// The WebGPU adapter's description; empty on the CPU backend.
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> String {
        self.inner.adapter_info.borrow().clone()
    }

    /// The current plan's input shape (the model's declared layout);
    /// `undefined` while a call is running on the session.
    #[wasm_bindgen(js_name = inputShape)]
    pub fn input_shape(&self) -> Option<Vec<u32>> {
        let c = self.inner.compiled.borrow();
        c.as_ref().map(|c| c.plan.input.shape.iter().map(|&d| d as u32).collect())
    }

    /// Raw inference: `input` holds `shape`'s product of f32 in the model's
    /// declared layout; returns the model's output (logits or probabilities).
    /// A shape other than the current plan's compiles a new plan first.
    pub async fn infer(&self, input: Float32Array, shape: Vec<u32>) -> std::result::Result<Float32Array, JsValue> {
        let shape: Vec<usize> = shape.into_iter().map(|d| d as usize).collect();
        let data = input.to_vec();
        if shape.iter().product::<usize>() != data.len() {
            return Err(invalid(format!(
                "shape {shape:?} needs {} values, got {}",
                shape.iter().product::<usize>(),
                data.len()
            )));
        }
        let inner = self.inner.clone();
        let out = inner.with_compiled(async |c, inner| inner.infer(c, &data, shape).await).await?;
        Ok(Float32Array::from(out.as_slice()))
    }

    /// For benchmarks: this WebGPU session's plan run once untimed on `input`
    /// and then `runs` times with each dispatch timed (see `webresnet bench
    /// --profile`). Rejects with code `BACKEND` on the CPU, `LIMIT` where the
    /// adapter has no timestamp queries.
    #[wasm_bindgen(js_name = profileGpu)]
    pub async fn profile_gpu(&self, input: Float32Array, runs: u32) -> JsResult {
        let data = input.to_vec();
        self.inner.with_compiled(async |c, _| super::profile::profile(c, &data, runs).await).await
    }

    /// Classifies one RGBA frame (`width * height * 4` bytes, e.g. `ImageData.data`),
    /// resized and normalised per the model's preprocessing.
    /// Resolves to `[{ index, label, probability }]`, best first.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub async fn classify_rgba(&self, rgba: Vec<u8>, width: u32, height: u32, top_k: u32) -> JsResult {
        self.classify(Picture::Rgba { rgba, width, height }, top_k).await
    }

    /// Classifies an image object as the browser holds it (`ImageBitmap`,
    /// `HTMLVideoElement`, `VideoFrame`, canvas, `HTMLImageElement`,
    /// `ImageData`) of `width` x `height` pixels, on WebGPU only: the browser
    /// copies it into a texture and the GPU preprocesses it; its pixels never
    /// pass through the CPU.
    #[wasm_bindgen(js_name = classifyFrame)]
    pub async fn classify_frame(&self, source: JsValue, width: u32, height: u32, top_k: u32) -> JsResult {
        self.classify(Picture::Frame { source, width, height }, top_k).await
    }

    /// Classifies encoded image bytes (JPEG, PNG or WebP).
    #[wasm_bindgen(js_name = classifyBytes)]
    pub async fn classify_bytes(&self, encoded: Vec<u8>, top_k: u32) -> JsResult {
        self.classify(Picture::Encoded(encoded), top_k).await
    }

    /// The pooled features before the classifier head (the output of the
    /// last global pooling) for one RGBA frame, preprocessed as for `classifyRgba`.
    #[wasm_bindgen(js_name = embedRgba)]
    pub async fn embed_rgba(
        &self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
    ) -> std::result::Result<Float32Array, JsValue> {
        self.embed(Picture::Rgba { rgba, width, height }).await
    }

    /// As `embedRgba`, for an image object as `classifyFrame` takes it (WebGPU only).
    #[wasm_bindgen(js_name = embedFrame)]
    pub async fn embed_frame(
        &self,
        source: JsValue,
        width: u32,
        height: u32,
    ) -> std::result::Result<Float32Array, JsValue> {
        self.embed(Picture::Frame { source, width, height }).await
    }

    /// As `embedRgba`, for encoded image bytes (JPEG, PNG or WebP).
    #[wasm_bindgen(js_name = embedBytes)]
    pub async fn embed_bytes(&self, encoded: Vec<u8>) -> std::result::Result<Float32Array, JsValue> {
        self.embed(Picture::Encoded(encoded)).await
    }

    /// The class activation map of class `class_index` (the top-1's when
    /// undefined) for one RGBA frame, with the top-k from the same pass.
    /// Resolves to `{ classIndex, label, width, height, heatmap, top, crop }`:
    /// `heatmap` is `height * width` raw scores at the feature map's
    /// resolution, `crop` the part of the picture they cover, `[left, top,
    /// right, bottom]` as fractions of its width and height.
    #[wasm_bindgen(js_name = explainRgba)]
    pub async fn explain_rgba(
        &self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        class_index: Option<u32>,
        top_k: u32,
    ) -> JsResult {
        self.explain(Picture::Rgba { rgba, width, height }, class_index, top_k).await
    }

    /// As `explainRgba`, for encoded image bytes (JPEG, PNG or WebP).
    #[wasm_bindgen(js_name = explainBytes)]
    pub async fn explain_bytes(&self, encoded: Vec<u8>, class_index: Option<u32>, top_k: u32) -> JsResult {
        self.explain(Picture::Encoded(encoded), class_index, top_k).await
    }

    /// Replaces the class names used by `classify*` (index i names class i).
    #[wasm_bindgen(js_name = setLabels)]
    pub fn set_labels(&self, labels: Vec<String>) {
        *self.inner.labels.borrow_mut() = Some(labels);
    }
}

// The shared bodies of the exported calls (not exported themselves).
impl Session {
    async fn classify(&self, picture: Picture, top_k: u32) -> JsResult {
        let inner = self.inner.clone();
        let preds = inner.with_compiled(async |c, inner| inner.classify(c, &picture, top_k as usize).await).await?;
        Ok(predictions_to_js(&preds))
    }

    async fn explain(&self, picture: Picture, class: Option<u32>, top_k: u32) -> JsResult {
        let inner = self.inner.clone();
        let class = class.map(|c| c as usize);
        let (e, label, top, seen) =
            inner.with_compiled(async |c, inner| inner.explain(c, &picture, class, top_k as usize).await).await?;
        let o = Object::new();
        // Plain objects accept any property; these sets cannot fail.
        let _ = Reflect::set(&o, &"classIndex".into(), &(e.class as u32).into());
        let _ = Reflect::set(&o, &"label".into(), &label.as_str().into());
        let _ = Reflect::set(&o, &"width".into(), &(e.width as u32).into());
        let _ = Reflect::set(&o, &"height".into(), &(e.height as u32).into());
        let _ = Reflect::set(&o, &"heatmap".into(), &Float32Array::from(e.heatmap.as_slice()).into());
        let _ = Reflect::set(&o, &"top".into(), &predictions_to_js(&top));
        let _ = Reflect::set(&o, &"crop".into(), &Float64Array::from(seen.as_slice()).into());
        Ok(o.into())
    }

    async fn embed(&self, picture: Picture) -> std::result::Result<Float32Array, JsValue> {
        let inner = self.inner.clone();
        let out = inner.with_compiled(async |c, inner| inner.embed(c, &picture).await).await?;
        Ok(Float32Array::from(out.as_slice()))
    }
}

fn predictions_to_js(preds: &[Prediction]) -> JsValue {
    let arr = Array::new();
    for p in preds {
        let o = Object::new();
        // Plain objects accept any property; these sets cannot fail.
        let _ = Reflect::set(&o, &"index".into(), &(p.index as u32).into());
        let _ = Reflect::set(&o, &"label".into(), &p.label.as_str().into());
        let _ = Reflect::set(&o, &"probability".into(), &p.probability.into());
        arr.push(&o);
    }
    arr.into()
}
