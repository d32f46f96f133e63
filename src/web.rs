//! The JavaScript API (wasm32 only), through wasm-bindgen.
//!
//! ```js
//! const s = await Session.create(modelBytes, "webgpu");   // or "cpu"
//! const logits = await s.infer(float32Input, [1, 3, 224, 224]);
//! const top = await s.classifyBytes(jpegBytes, 5);        // [{ index, label, probability }]
//! s.free();
//! ```
//!
//! Every failure is a rejected promise of a JS `Error` whose `code` is
//! [`Error::code`], so callers can branch on it without parsing messages.
//! A failed call leaves the session as it was.
//!
//! Calls on one session run one at a time, in call order: the GPU backend
//! owns one arena and one readback buffer, and a second `infer` awaiting
//! the first's readback would otherwise find both in use.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Once;

use futures_channel::oneshot;
use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect, Symbol, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use crate::model::format;
use crate::model::incoming::{Chunk, Incoming};
use crate::model::Graph;
use crate::plan::{CompileOptions, Plan};
use crate::postprocess::{softmax, top_k, Prediction};
use crate::preprocess::{decode, image_to_tensor, rgba_to_tensor};

/// The name JS sees on our errors, so `err.name` tells them apart from
/// errors thrown by the browser.
const ERROR_NAME: &str = "WebResnetError";

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(console_error_panic_hook::hook)));
}

/// A JS `Error` carrying the stable `code`.
fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name(ERROR_NAME);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

impl From<Error> for JsValue {
    fn from(e: Error) -> JsValue {
        js_error(e.code(), &e.to_string())
    }
}

/// Errors that only the JS boundary can produce (wrong argument types).
fn invalid(message: impl Into<String>) -> JsValue {
    Error::InvalidInput(message.into()).into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BackendKind {
    Cpu,
    WebGpu,
}

impl BackendKind {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "cpu" => Ok(Self::Cpu),
            "webgpu" | "gpu" => Ok(Self::WebGpu),
            other => Err(Error::InvalidInput(format!("backend must be \"webgpu\" or \"cpu\", not {other:?}"))),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }
}

enum Engine {
    Cpu(CpuBackend),
    Gpu(Box<GpuBackend>),
}

/// wgpu 30 *panics* (and a panic traps the whole wasm instance) when asked
/// for WebGPU outside a window or dedicated worker, e.g. in Node. Check first
/// and return an error the caller can fall back on.
fn check_webgpu_reachable() -> Result<()> {
    let global = js_sys::global();
    if get(&global, "navigator").and_then(|n| get(&n, "gpu")).is_none() {
        return Err(Error::GpuUnavailable(
            "navigator.gpu is missing (no WebGPU in this runtime, or not a secure context)".into(),
        ));
    }
    let scope = get(&global, "constructor").and_then(|c| get(&c, "name")).and_then(|n| n.as_string());
    match scope.as_deref() {
        Some("Window") | Some("DedicatedWorkerGlobalScope") => Ok(()),
        other => Err(Error::GpuUnavailable(format!(
            "WebGPU through wgpu needs a window or a dedicated worker, not {}",
            other.unwrap_or("this global scope")
        ))),
    }
}

impl Engine {
    async fn new(plan: &Plan, kind: BackendKind) -> Result<Self> {
        Ok(match kind {
            BackendKind::Cpu => Engine::Cpu(CpuBackend::new(plan)?),
            BackendKind::WebGpu => {
                check_webgpu_reachable()?;
                Engine::Gpu(Box::new(GpuBackend::new(plan).await?))
            }
        })
    }
    /// The WebGPU adapter's description; empty on the CPU.
    fn adapter_info(&self) -> String {
        match self {
            Engine::Cpu(_) => String::new(),
            Engine::Gpu(g) => g.adapter_info(),
        }
    }
    async fn run(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        match self {
            Engine::Cpu(c) => c.run(input),
            Engine::Gpu(g) => g.run(input).await,
        }
    }
}

/// The compiled model and the backend built from it. Kept together so a
/// re-plan swaps both or neither.
struct Compiled {
    plan: Plan,
    engine: Engine,
    /// The plan cut at the global pooling, and its engine: built on the
    /// first `embed*` call (most callers never embed), dropped on re-plan.
    features: Option<(Plan, Engine)>,
}

/// An image as it crosses the boundary: an RGBA frame or encoded bytes.
enum Picture {
    Rgba { rgba: Vec<u8>, width: u32, height: u32 },
    Encoded(Vec<u8>),
}

impl Picture {
    fn to_tensor(&self, plan: &Plan) -> Result<Vec<f32>> {
        match self {
            Picture::Rgba { rgba, width, height } => rgba_to_tensor(rgba, *width, *height, &plan.preprocess),
            Picture::Encoded(bytes) => image_to_tensor(&decode(bytes)?, &plan.preprocess),
        }
    }
}

/// A FIFO async lock: `acquire` resolves once every earlier holder released.
/// (wasm32 is single-threaded, so `Cell`/`RefCell` suffice.)
#[derive(Default)]
struct Turnstile {
    busy: Cell<bool>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
}

struct Turn<'a>(&'a Turnstile);

impl Turnstile {
    async fn acquire(&self) -> Turn<'_> {
        if self.busy.replace(true) {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push_back(tx);
            // The sender lives in `waiting` until a release hands over, so this
            // only errs if the lock itself is gone, which can't happen while borrowed.
            // (A waiter dropped after the hand-over would leave the lock held; the
            // futures behind JS promises are always run to completion, so none is.)
            let _ = rx.await;
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // Hand the lock straight to the next live waiter (busy stays true);
        // a waiter whose future was dropped fails `send`, so try the next one.
        let mut waiting = self.0.waiting.borrow_mut();
        while let Some(tx) = waiting.pop_front() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        self.0.busy.set(false);
    }
}

struct Inner {
    kind: Cell<BackendKind>,
    /// The model file as given, outside the wasm heap: a new input shape is
    /// planned from it again, as planning took the decoded weights.
    model: Uint8Array,
    /// `None` only while a call has taken it out to run.
    compiled: RefCell<Option<Compiled>>,
    adapter_info: RefCell<String>,
    /// Class names set from JS; they outlive re-plans, which rebuild `Plan::labels`.
    labels: RefCell<Option<Vec<String>>>,
    turnstile: Turnstile,
}

impl Inner {
    /// Runs `f` on the compiled model, exclusively. The model is taken out of
    /// its cell for the duration so no `RefCell` borrow lives across an await.
    async fn with_compiled<T>(
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
    async fn replan(&self, c: &mut Compiled, shape: Vec<usize>) -> Result<()> {
        let (graph, check) = import(&self.model)?;
        let plan = graph.and_then(|g| crate::plan::compile_owned(g, &CompileOptions { input_shape: Some(shape) }));
        check.verify().await?;
        let plan = plan?;
        let engine = Engine::new(&plan, self.kind.get()).await?;
        *self.adapter_info.borrow_mut() = engine.adapter_info();
        *c = Compiled { plan, engine, features: None };
        Ok(())
    }

    /// One inference of one image of zeros.
    async fn warm_up(&self) -> std::result::Result<(), JsValue> {
        self.with_compiled(async |c, inner| {
            inner.ensure_single(c).await?;
            c.engine.run(&vec![0.0; c.plan.input.shape.iter().product()]).await.map(drop)
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

    async fn classify(&self, c: &mut Compiled, picture: &Picture, k: usize) -> Result<Vec<Prediction>> {
        self.ensure_single(c).await?;
        let out = c.engine.run(&picture.to_tensor(&c.plan)?).await?;
        let probs = if c.plan.output.is_probability { out } else { softmax(&out) };
        let labels = self.labels.borrow();
        Ok(top_k(&probs, k, labels.as_deref().or(c.plan.labels.as_deref())))
    }

    async fn embed(&self, c: &mut Compiled, picture: &Picture) -> Result<Vec<f32>> {
        self.ensure_single(c).await?;
        let input = picture.to_tensor(&c.plan)?;
        let mut features = match c.features.take() {
            Some(f) => f,
            None => {
                let plan = c.plan.features()?;
                let engine = Engine::new(&plan, self.kind.get()).await?;
                (plan, engine)
            }
        };
        let out = features.1.run(&input).await;
        c.features = Some(features);
        out
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

/// `performance.mark("webresnet:NAME")`, where the runtime has it: the load's
/// phases show in the browser's profiler, and `make bench-load` reads them.
fn mark(name: &str) {
    if let Some(perf) = get(&js_sys::global(), "performance") {
        call(&perf, "mark", &[&format!("webresnet:{name}").into()]);
    }
}

/// A SHA-256 being computed (wasm futures need not be `Send`).
type Digest = Pin<Box<dyn Future<Output = Result<Vec<u8>>>>>;

/// A model file's SHA-256 check, the digests of its data section maybe still running.
enum HashCheck {
    Done,
    Pending { seal: format::Seal, digest: Digest },
}

impl HashCheck {
    async fn verify(self) -> Result<()> {
        let HashCheck::Pending { seal, digest } = self else { return Ok(()) };
        seal.verify(&digest.await?)
    }
}

/// [`crate::model::import`] of `model`, but only a model file's header is
/// copied into wasm whole: its tensors go straight into their arrays, and its
/// hash is checked as [`hash_check`] says.
fn import(model: &Uint8Array) -> Result<(Result<Graph>, HashCheck)> {
    let len = model.length() as usize;
    let prefix = model.subarray(0, len.min(8) as u32).to_vec();
    let head_end = format::header_end(&prefix).filter(|&end| end <= len).unwrap_or(len);
    let head = model.subarray(0, head_end as u32).to_vec();
    if !format::sniff(&head) {
        let bytes = if head.len() == len { head } else { model.to_vec() };
        let graph = crate::model::import(&bytes);
        mark("graph");
        return Ok((graph, HashCheck::Done));
    }
    let header = format::open_header(&head, len)?;
    mark("header");
    let check = hash_check(model, &header)?;
    let graph = header.graph(&JsData { model: model.clone(), start: header.data_range().start });
    mark("graph");
    Ok((graph, check))
}

/// The check of model file `model`'s hash. Its data section is digested by
/// WebCrypto in place (wasm has no SHA instructions, and sha2 in software
/// took longer than the rest of the import), so the caller decodes and plans
/// while the digests finish, and must await the check before using the
/// result. Without WebCrypto (an insecure context) sha2 does it here.
fn hash_check(model: &Uint8Array, header: &format::Header) -> Result<HashCheck> {
    let data = header.data_range();
    let check = match webcrypto_pieces(model, data.clone()) {
        Some(digest) => HashCheck::Pending { seal: header.seal(), digest },
        None => {
            header
                .seal()
                .verify(&format::piece_digests(&model.subarray(data.start as u32, data.end as u32).to_vec()))?;
            HashCheck::Done
        }
    };
    mark("digests");
    Ok(check)
}

/// A model's bytes handed over as they download, for `Session.create`: a
/// project model file is then read during the download, not after it (see
/// [`crate::model::incoming`]). Other files are left to `create`'s import.
#[wasm_bindgen]
pub struct ModelStream(Incoming);

#[wasm_bindgen]
impl ModelStream {
    /// A stream of a file announced as `len` bytes long.
    #[wasm_bindgen(constructor)]
    pub fn new(len: f64) -> ModelStream {
        ModelStream(Incoming::new(len as usize))
    }

    /// The file's next bytes.
    pub fn push(&mut self, chunk: &Uint8Array) {
        self.0.push(chunk);
    }
}

impl Chunk for Uint8Array {
    fn byte_len(&self) -> usize {
        self.length() as usize
    }
    fn copy_into(&self, at: usize, dst: &mut [u8]) {
        self.subarray(at as u32, (at + dst.len()) as u32).copy_to(dst);
    }
}

/// A model file's data section, read from the JS array it arrived in.
struct JsData {
    model: Uint8Array,
    start: usize,
}

impl format::Data for JsData {
    fn bytes(&self, range: Range<usize>) -> Cow<'_, [u8]> {
        self.model.subarray((self.start + range.start) as u32, (self.start + range.end) as u32).to_vec().into()
    }

    /// Copied straight into the f32 array where the bytes are aligned for a
    /// `Float32Array` view (the wasm and every browser are little-endian).
    fn f32s(&self, range: Range<usize>) -> Vec<f32> {
        let at = self.model.byte_offset() as usize + self.start + range.start;
        if at % 4 != 0 {
            return format::f32s_le(&self.bytes(range));
        }
        Float32Array::new_with_byte_offset_and_length(&self.model.buffer(), at as u32, (range.len() / 4) as u32)
            .to_vec()
    }
}

fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Calls `obj[method](...args)`.
fn call(obj: &JsValue, method: &str, args: &[&JsValue]) -> Option<JsValue> {
    let f: Function = get(obj, method)?.dyn_into().ok()?;
    f.apply(obj, &args.iter().copied().collect()).ok()
}

/// Where the package's download leaves a promise of the digests its worker
/// took of a model file's pieces as they arrived (`src/js/model.js`): `{ start,
/// digests }`, the data section's offset and one SHA-256 per piece, or null.
const PIECE_DIGESTS: &str = "webresnet.pieceDigests";

/// The SHA-256 of each [`format::PIECE`] of `model[data]`, concatenated:
/// those the download took, if they are of these pieces, else digested here.
/// None when this runtime has no WebCrypto.
fn webcrypto_pieces(model: &Uint8Array, data: Range<usize>) -> Option<Digest> {
    let subtle = get(&js_sys::global(), "crypto").and_then(|c| get(&c, "subtle"))?;
    let count = data.len().div_ceil(format::PIECE);
    let start = data.start as f64;
    let taken =
        Reflect::get(model, &Symbol::for_(PIECE_DIGESTS).into()).ok().and_then(|p| p.dyn_into::<Promise>().ok());
    let model = model.clone();
    let here = move || -> Option<JsFuture> {
        let digests = Array::new();
        for at in data.clone().step_by(format::PIECE) {
            let piece = model.subarray(at as u32, (at + format::PIECE).min(data.end) as u32);
            digests.push(&call(&subtle, "digest", &[&"SHA-256".into(), &piece])?);
        }
        Some(JsFuture::from(Promise::all(&digests)))
    };
    // Started now where nothing was taken: Node digests off this thread while it plans.
    let early = if taken.is_none() { Some(here()?) } else { None };
    let failed = |e: JsValue| Error::ModelFormat(format!("WebCrypto could not hash the model file: {e:?}"));
    Some(Box::pin(async move {
        let taken = match taken {
            Some(p) => JsFuture::from(p).await.ok().filter(|t| get(t, "start").and_then(|s| s.as_f64()) == Some(start)),
            None => None,
        };
        let digests = match taken.and_then(|t| get(&t, "digests")).filter(|d| Array::from(d).length() as usize == count)
        {
            Some(d) => d,
            None => early.or_else(here).ok_or(JsValue::UNDEFINED).map_err(failed)?.await.map_err(failed)?,
        };
        Ok(Array::from(&digests).iter().flat_map(|d| Uint8Array::new(&d).to_vec()).collect())
    }))
}

/// A model loaded onto one backend. Create it with `Session.create`.
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
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
        let kind = BackendKind::parse(&backend)?;
        mark("start");
        // A typed array is read in place; anything else is copied into one.
        let model = model.dyn_into::<Uint8Array>().unwrap_or_else(|other| Uint8Array::new(&other));
        let streamed =
            streamed.and_then(|s| s.0.finish()).filter(|(h, _)| h.data_range().end == model.length() as usize);
        let (graph, check) = match streamed {
            Some((header, graph)) => {
                let check = hash_check(&model, &header)?;
                mark("streamed");
                (Ok(graph), check)
            }
            None => import(&model)?,
        };
        let input_shape = shape.map(|s| s.into_iter().map(|d| d as usize).collect());
        let built = async {
            let plan = crate::plan::compile_owned(graph?, &CompileOptions { input_shape })?;
            mark("plan");
            let engine = Engine::new(&plan, kind).await?;
            mark("backend");
            let adapter_info = RefCell::new(engine.adapter_info());
            let compiled = RefCell::new(Some(Compiled { plan, engine, features: None }));
            let (labels, turnstile) = Default::default();
            let model = model.clone();
            Ok::<_, Error>(Inner { kind: Cell::new(kind), model, compiled, adapter_info, labels, turnstile })
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
        Ok(Session { inner: Rc::new(inner) })
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
        inner
            .with_compiled(async |c, inner| {
                let engine = Engine::new(&c.plan, kind).await?;
                *inner.adapter_info.borrow_mut() = engine.adapter_info();
                inner.kind.set(kind);
                c.engine = engine;
                c.features = None;
                Ok(())
            })
            .await
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
        let out = inner
            .with_compiled(async |c, inner| {
                if c.plan.input.shape != shape {
                    inner.replan(c, shape).await?;
                }
                c.engine.run(&data).await
            })
            .await?;
        Ok(Float32Array::from(out.as_slice()))
    }

    /// Classifies one RGBA frame (`width * height * 4` bytes, e.g. `ImageData.data`),
    /// resized and normalised per the model's preprocessing.
    /// Resolves to `[{ index, label, probability }]`, best first.
    #[wasm_bindgen(js_name = classifyRgba)]
    pub async fn classify_rgba(
        &self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        top_k: u32,
    ) -> std::result::Result<JsValue, JsValue> {
        self.classify(Picture::Rgba { rgba, width, height }, top_k).await
    }

    /// Classifies encoded image bytes (JPEG, PNG or WebP).
    #[wasm_bindgen(js_name = classifyBytes)]
    pub async fn classify_bytes(&self, encoded: Vec<u8>, top_k: u32) -> std::result::Result<JsValue, JsValue> {
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

    /// As `embedRgba`, for encoded image bytes (JPEG, PNG or WebP).
    #[wasm_bindgen(js_name = embedBytes)]
    pub async fn embed_bytes(&self, encoded: Vec<u8>) -> std::result::Result<Float32Array, JsValue> {
        self.embed(Picture::Encoded(encoded)).await
    }

    /// Replaces the class names used by `classify*` (index i names class i).
    #[wasm_bindgen(js_name = setLabels)]
    pub fn set_labels(&self, labels: Vec<String>) {
        *self.inner.labels.borrow_mut() = Some(labels);
    }
}

// The shared bodies of the exported calls (not exported themselves).
impl Session {
    async fn classify(&self, picture: Picture, top_k: u32) -> std::result::Result<JsValue, JsValue> {
        let inner = self.inner.clone();
        let preds = inner.with_compiled(async |c, inner| inner.classify(c, &picture, top_k as usize).await).await?;
        Ok(predictions_to_js(&preds))
    }

    async fn embed(&self, picture: Picture) -> std::result::Result<Float32Array, JsValue> {
        let inner = self.inner.clone();
        let out = inner.with_compiled(async |c, inner| inner.embed(c, &picture).await).await?;
        Ok(Float32Array::from(out.as_slice()))
    }
}
