// The one place the page talks to the webresnet package: loading a model on a
// backend, classifying, describing the backend, and turning the package's
// error codes into sentences a person can act on.
import { Classifier } from "/pkg/index.js";

const MODELS = {
  // The package's own default (EfficientNet-Lite0 stored as f16, half the download).
  default: { url: undefined, name: "EfficientNet-Lite0, ImageNet-1k" },
  // The same network with int8 weights (a quarter of the f32 download), made by scripts/setup.sh.
  int8: { url: "/models/default-int8.wrn", name: "EfficientNet-Lite0 int8, ImageNet-1k" },
  opennsfw: { url: "/models/opennsfw.wrn", name: "open_nsfw ResNet-50, SFW/NSFW" },
};

const TOP_K = 5;

// What the package loads for `model`: a URL (undefined: its default), or a
// copy of a picked file's bytes, as each classifier takes its own.
const modelSource = (model) => (typeof model === "string" ? MODELS[model].url : model.bytes.slice(0));

// Why WebGPU can't be used here, or null when an adapter is on offer. Asked
// before the package is, so the notice names the cause and not just the fact.
export async function webgpuProblem() {
  if (!window.isSecureContext) return "the page is not a secure context (serve it over https or from localhost)";
  if (!("gpu" in navigator)) return "this browser does not offer WebGPU (navigator.gpu is missing)";
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return "the browser found no usable GPU adapter (blocklisted driver, or GPU access disabled)";
  } catch (e) {
    return `asking for a GPU adapter failed: ${e.message}`;
  }
  return null;
}

// Holds the classifier in use. A new model or backend replaces it only once
// the new one works, so a bad file or a failed backend leaves the page as it
// was. `onBackendChange({ reason, ...describe() })` hears when the classifier
// in use met a lost GPU device and moved on: to a new device, or to the CPU.
export class ModelHolder {
  #current = null;
  #onBackendChange;
  #video = null; // { video, smoothing, onResult, onError } while the camera is watched
  #stopLoop = null;

  constructor(onBackendChange) {
    this.#onBackendChange = onBackendChange;
  }

  // `model`: a key of MODELS, or { name, bytes } for a file picked from disk.
  // Resolves to describe()'s fields, the model's name and loadMs; `signal`
  // cancels it (the package rejects with ABORTED).
  async load(model, backend, onProgress, signal) {
    const source = modelSource(model);
    const t0 = performance.now();
    let clf = null;
    const onBackendChange = ({ reason }) => {
      // Only the classifier in use speaks; one being replaced is no news.
      if (this.#current?.clf === clf) this.#onBackendChange({ reason, ...this.describe() });
    };
    clf = await Classifier.create({
      model: source,
      backend,
      // Off the main thread, so the page and the video stay smooth while the
      // CPU path works.
      worker: true,
      onProgress,
      onBackendChange,
      signal,
    });
    const loadMs = performance.now() - t0;
    const old = this.#current;
    this.#current = { clf, model, loadMs, firstMs: null };
    this.#startVideo();
    old?.clf.dispose();
    const name = typeof model === "string" ? MODELS[model].name : model.name;
    return { ...this.describe(), name, loadMs };
  }

  // The package's device benchmark of the model in use: each backend's cold
  // and warm latency, in workers as the page's classifier, and what "auto"
  // takes here and why. `onProgress({ step })` hears each backend's turn.
  async benchmark(onProgress) {
    const { model } = this.#loaded();
    const name = typeof model === "string" ? MODELS[model].name : model.name;
    const result = await Classifier.benchmark({ model: modelSource(model), worker: true, onProgress });
    return { model: name, ...result };
  }

  get ready() {
    return this.#current !== null;
  }

  // `source`: anything the package classifies (an ImageBitmap here).
  // Resolves to { top, ms, firstMs }. firstMs, on the model's first result
  // only, is the load (download, compile, warm-up) plus this inference: what
  // a person waits for before the first answer, whenever they ask.
  // With `explain`, also `explanation`: the top-1's heatmap from the same pass.
  async classify(source, { explain = false } = {}) {
    const cur = this.#loaded();
    const t0 = performance.now();
    const r = await cur.clf.classify(source, { topK: TOP_K, explain });
    const t1 = performance.now();
    let firstMs = null;
    if (cur.firstMs === null) firstMs = cur.firstMs = cur.loadMs + (t1 - t0);
    const [top, explanation] = explain ? [r.predictions, r.explanation] : [r, null];
    return { top, explanation, ms: t1 - t0, firstMs };
  }

  // The top-1's heatmap for `source` (a live frame).
  async explain(source) {
    return this.#loaded().clf.explain(source);
  }

  #loaded() {
    if (!this.#current) throw Object.assign(new Error("no model is loaded"), { code: "NO_MODEL" });
    return this.#current;
  }

  /** The loaded model's identity; a taught head belongs to it. */
  get modelId() {
    return this.#current?.clf.modelId ?? null;
  }

  createHead() {
    return this.#current.clf.createHead();
  }

  loadHead(json) {
    return this.#current.clf.loadHead(json);
  }

  /** The video being classified live, or null. */
  get video() {
    return this.#video?.video ?? null;
  }

  // Classifies `video` with the classifier in use, and with each one that
  // replaces it, until stopVideo(). `onResult({ top, ms, firstMs, fps })`
  // sees each smoothed result; `onError(e)` a failed frame, or the stream's end.
  watchVideo(video, { smoothing, onResult, onError }) {
    this.stopVideo();
    this.#video = { video, smoothing, onResult, onError };
    this.#startVideo();
  }

  // A new smoothing weight restarts the loop, so the old average goes too.
  setSmoothing(smoothing) {
    if (!this.#video) return;
    this.#video.smoothing = smoothing;
    this.#startVideo();
  }

  stopVideo() {
    this.#stopLoop?.();
    this.#stopLoop = null;
    this.#video = null;
  }

  #startVideo() {
    const cur = this.#current;
    const watch = this.#video;
    this.#stopLoop?.();
    this.#stopLoop = null;
    if (!cur || !watch) return;
    this.#stopLoop = cur.clf.classifyVideo(watch.video, {
      topK: TOP_K,
      smoothing: watch.smoothing,
      onResult: ({ predictions, latencyMs, fps }) => {
        let firstMs = null;
        if (cur.firstMs === null) firstMs = cur.firstMs = cur.loadMs + latencyMs;
        watch.onResult({ top: predictions, ms: latencyMs, firstMs, fps });
      },
      // A classifier being replaced ends its loop; the new one has started its own.
      onError: (e) => e.code !== "DISPOSED" && watch.onError(e),
    });
  }

  // { backend: "webgpu" | "cpu-simd" | "cpu-simd-threads", text, fallbackReason, why }:
  // fallbackReason is the package's word on why "auto" is not on WebGPU, why
  // its word on why this backend runs.
  describe() {
    const clf = this.#current?.clf;
    if (!clf) return { backend: null, text: "none", fallbackReason: null, why: "" };
    const b = clf.backend;
    let text;
    if (b === "webgpu") text = `WebGPU on ${clf.adapter ?? "an unnamed adapter"}`;
    else if (b === "cpu-simd-threads") text = `CPU, wasm SIMD, ${clf.threads} threads`;
    else text = "CPU, wasm SIMD, 1 thread";
    return { backend: b, text, fallbackReason: clf.fallbackReason ?? null, why: clf.backendReason };
  }
}

// A sentence for the page from any error the package (or the browser) throws.
export function explain(e) {
  const detail = e?.message ?? String(e);
  switch (e?.code) {
    case "MODEL_FORMAT":
      return `That file is not a model webresnet can read (ONNX, .wrn, .pth or .safetensors): ${detail}`;
    case "UNSUPPORTED_OP":
      return `That model uses an operation webresnet does not support yet: ${detail}`;
    case "SHAPE":
      return `That model's shapes don't fit an image classifier: ${detail}`;
    case "IMAGE_DECODE":
      return `That file is not an image the browser can decode: ${detail}`;
    case "WEBGPU_UNAVAILABLE":
      return `WebGPU cannot be used here: ${detail}. Choose "Auto" or "CPU".`;
    case "UNSUPPORTED_MODEL":
      return `This model can't show where it looks: ${detail}`;
    case "STREAM_ENDED":
      return `The camera picture stopped: ${detail}. Start the camera again to go on.`;
    case "NO_MODEL":
      return 'No model is loaded: choose one under "Model and backend".';
    default:
      return detail;
  }
}
