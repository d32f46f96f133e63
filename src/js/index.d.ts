// Types for the `webresnet` package.

/** Stable error codes: branch on these, not on messages. */
export type WebResnetErrorCode =
  | "MODEL_FORMAT" // the model bytes are not a model this package reads
  | "UNSUPPORTED_OP" // the model uses an op (or attribute) webresnet lacks
  | "SHAPE" // shapes disagree, or the model can't take this input shape
  | "IMAGE_DECODE" // the image can't be decoded (or a video has no frame yet)
  | "INVALID_INPUT" // a bad argument or option, or an image from another origin that does not allow reading it (CORS)
  | "LIMIT" // an image or tensor over the size limits
  | "WEBGPU_UNAVAILABLE" // no WebGPU, no adapter/device, or the device was lost
  | "BACKEND" // any other backend failure
  | "IO"
  | "NETWORK" // the model, or an image given by URL, could not be fetched or read
  | "INTEGRITY" // the model's SHA-256 differs from `sha256`
  | "WASM_LOAD" // the wasm module (or the worker) failed to load
  | "STREAM_ENDED" // classifyVideo: the video ended or the camera stopped
  | "UNSUPPORTED_MODEL" // the model can't do what was asked (a heatmap needs global average pooling then one dense layer)
  | "DISPOSED" // the classifier was disposed
  | "ABORTED"; // create's `signal` fired before it resolved

export class WebResnetError extends Error {
  readonly name: "WebResnetError";
  readonly code: WebResnetErrorCode;
  constructor(code: WebResnetErrorCode, message: string, options?: { cause?: unknown });
}

/** Where `create` is: the model download, then compile (import + plan + backend), then one warm-up inference. */
export interface Progress {
  phase: "download" | "compile" | "warmup";
  loaded: number;
  /** Bytes (download; undefined when the server sends no length) or steps. */
  total: number | undefined;
}

/** Told when a lost GPU device moved the classifier: to a new device (`backend` stays "webgpu") or, under "auto", to the CPU. */
export interface BackendChange {
  backend: Backend;
  previous: Backend;
  /** Why: the loss as the browser reported it. */
  reason: string;
}

/** Diagnostics. */
export interface Stats {
  /** Bytes in the wasm heap of the thread running the model (the worker's in worker mode), shared by the classifiers there. */
  wasmMemoryBytes: number;
  /** CPU threads of that thread's wasm build: 1, or the threaded build's pool size. */
  threads: number;
  /** Why the threaded build was asked for but did not start (it then runs one thread), else null. */
  threadsFallback: string | null;
  /** How `create` got the GPU pipelines (all zeros and null on the CPU). */
  coldStart: ColdStart;
}

/**
 * On WebGPU, a `.wrn` downloaded by the package has its pipelines compiled from its header while the
 * weights still arrive; building the backend then compiles only what that did not foresee.
 */
export interface ColdStart {
  /** Bytes of the model file. */
  modelBytes: number;
  /** Pipelines compiled from the header, during the download. */
  pipelinesCompiledAhead: number;
  /** Pipelines compiled once the model was planned (all of them without a compile ahead). */
  pipelinesCompiledAtBuild: number;
  /** Bytes of the file that had arrived when the pipelines compiled ahead were ready, or null. */
  pipelinesReadyAtByte: number | null;
}

export interface ClassifierOptions {
  /** A URL (resolved against the page), model bytes, or omitted for the default ImageNet model (EfficientNet-Lite0). `.onnx` or `.wrn`. */
  model?: string | URL | ArrayBuffer | ArrayBufferView;
  /**
   * "auto" (default): the backend that is faster here. A software or fallback WebGPU adapter means the CPU;
   * otherwise one warm-up on each decides. The choice is remembered for this browser and adapter
   * (localStorage "webresnet:backend"); `backendReason` says why. "webgpu" and "cpu" force a backend.
   */
  backend?: "auto" | "webgpu" | "cpu";
  /**
   * CPU threads (default: the machine's cores, at most 4). More than one needs a cross-origin isolated
   * page (COOP/COEP), SharedArrayBuffer and worker mode (or your own worker); elsewhere, and with
   * `backend: "webgpu"`, it runs one thread, without an error.
   */
  threads?: number;
  /** Run everything in a Web Worker (browsers only); same API. */
  worker?: boolean;
  /** Hex SHA-256 of the model file; a mismatch rejects with INTEGRITY. */
  sha256?: string;
  /** Keep downloaded models in the Cache API (default true). */
  cache?: boolean;
  /**
   * Cancels `create`: the download stops, what was built is freed, and `create` rejects with ABORTED.
   * Once `create` has resolved, the signal no longer matters (use `dispose`).
   */
  signal?: AbortSignal;
  /** Class names, index i naming class i; default: the model's own (ImageNet-1k for 1000 classes). */
  labels?: string[];
  onProgress?: (progress: Progress) => void;
  /** Called after the call that met a lost GPU device has moved on (the page may show a notice). */
  onBackendChange?: (change: BackendChange) => void;
}

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

/**
 * Anything that holds one image; encoded bytes are JPEG, PNG or WebP (in browsers, whatever they decode).
 * A string or URL names an image to fetch, relative to the page (CORS applies); in Node a relative path
 * or a `file:` URL is read from disk.
 */
export type ImageSource =
  | string
  | URL
  | HTMLImageElement
  | HTMLVideoElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | VideoFrame
  | ImageData
  | Blob
  | ArrayBuffer
  | ArrayBufferView;

export type Backend = "webgpu" | "cpu-simd" | "cpu-simd-threads";

/** A class activation map: where in the image the evidence for a class lies. */
export interface Explanation {
  classIndex: number;
  label: string;
  /** The map's size: the feature map's (7x7 for the ImageNet models at 224). */
  width: number;
  height: number;
  /** `height * width` raw scores, row-major: CAM_c(y, x) = Σ_k W[c, k] · A_k(y, x), no bias. */
  heatmap: Float32Array;
  /** The part of the image the map covers (what the model saw after its resize and crop), as fractions of its width and height. */
  crop: { left: number; top: number; right: number; bottom: number };
}

/** Which predictions to return. */
export interface ClassifyOptions {
  /** How many classes, best first (default 5). */
  topK?: number;
  /** Leave out classes below this probability, in [0, 1]. */
  scoreThreshold?: number;
  /** Only these labels. */
  allow?: string[];
  /** Never these labels. */
  deny?: string[];
}

export interface VideoResult {
  /** Smoothed over recent frames, filtered as asked; the leading class first. */
  predictions: Prediction[];
  /** This frame's time from grab to result, in ms. */
  latencyMs: number;
  /** Results per second over the last few; null until there are two. */
  fps: number | null;
  /** Frames classified so far. */
  frames: number;
  /** Frames skipped because one was still being classified. */
  dropped: number;
}

export interface VideoOptions extends ClassifyOptions {
  onResult: (result: VideoResult) => void;
  /** A failed frame (the loop goes on), or why the loop ended (STREAM_ENDED, DISPOSED). */
  onError?: (error: WebResnetError) => void;
  /** At most this many frames a second (default: as fast as results come). */
  maxFps?: number;
  /** The weight the past keeps at each frame, in [0, 1) (default 0.5; 0: no smoothing). */
  smoothing?: number;
  /** How far another class must pass the leading one to take its place (default 0.05). */
  hysteresis?: number;
}

/** Few-shot classes taught on a classifier's embeddings (k nearest neighbours, cosine similarity). */
export interface HeadPrediction {
  label: string;
  /** The share of the k nearest examples that are of this class. */
  probability: number;
}

export interface HeadJSON {
  format: "webresnet-head";
  version: 1;
  /** The identity of the model that made the embeddings (`Classifier.modelId`). */
  model: string;
  k: number;
  /** Values per embedding; null while the head is empty. */
  dim: number | null;
  /** Each example is a unit-length float32 embedding in little-endian base64. */
  classes: { label: string; examples: string[] }[];
}

export class Head {
  private constructor();
  /** The taught labels, in the order they were first added. */
  readonly labels: string[];
  /** Adds one example of `label` (any source `classify` takes; in Node, encoded image bytes). */
  add(label: string, source: ImageSource): Promise<void>;
  /** The taught classes for `source`, best first (topK defaults to 3). */
  classify(source: ImageSource, options?: { topK?: number }): Promise<HeadPrediction[]>;
  /** How many examples `label` has (0 if none). */
  count(label: string): number;
  remove(label: string): void;
  clear(): void;
  /** The examples, labels and the model's identity, as plain JSON data. */
  toJSON(): HeadJSON;
}

export interface BenchmarkOptions {
  /** As `ClassifierOptions.model` (default: the default model). */
  model?: ClassifierOptions["model"];
  /** Run each classifier in a worker. */
  worker?: boolean;
  /** Warm classify calls per backend (default 5). */
  runs?: number;
  /** Told as each backend's turn starts. */
  onProgress?: (progress: { step: "webgpu" | "cpu" | "auto" }) => void;
}

/** One backend's times, in ms, on a 224x224 frame; `error` instead when it could not load. */
export interface BackendBenchmark {
  backend: "webgpu" | "cpu";
  error?: string;
  ran?: Backend;
  adapter?: string | null;
  /** `Classifier.create`: download (or cache), compile, warm-up. */
  loadMs?: number;
  /** The first classify after the load. */
  firstMs?: number;
  /** loadMs + firstMs: the wait for the first result. */
  coldMs?: number;
  /** The classify calls after the first. */
  warmMs?: { median: number; min: number; runs: number[] };
}

export interface BenchmarkResult {
  userAgent: string | null;
  worker: boolean;
  runs: number;
  backends: BackendBenchmark[];
  /** What "auto" chose here, and why. */
  auto: { backend: Backend; reason: string };
}

export class Classifier {
  private constructor();
  /** Loads the wasm and the model, picks the backend and runs one warm-up inference. */
  static create(options?: ClassifierOptions): Promise<Classifier>;
  /** The backend in use; "auto" moves to the CPU if the GPU device is lost and can't be replaced. */
  readonly backend: Backend;
  /** CPU threads: 1, or the threaded build's pool size ("cpu-simd-threads" on the CPU). */
  readonly threads: number;
  /** The WebGPU adapter (vendor, architecture, description); null on the CPU. */
  readonly adapter: string | null;
  /** Why "auto" runs on the CPU; null on WebGPU or when the CPU was asked for. */
  readonly fallbackReason: string | null;
  /** Why this backend runs: the backend asked for, or how "auto" chose it (a software adapter, the faster warm-up, a remembered choice, a failure). */
  readonly backendReason: string;
  /** Times a model on each backend and reports which one "auto" takes here, and why. */
  static benchmark(options?: BenchmarkOptions): Promise<BenchmarkResult>;
  /** Top-k classes, best first (topK defaults to 5), filtered by the options. */
  classify(source: ImageSource, options: ClassifyOptions & { explain: true }): Promise<{ predictions: Prediction[]; explanation: Explanation }>;
  classify(source: ImageSource, options?: ClassifyOptions & { explain?: false }): Promise<Prediction[]>;
  /** The class activation map of `classIndex` (default: the top-1); UNSUPPORTED_MODEL for a head that is not global average pooling then one dense layer. */
  explain(source: ImageSource, options?: { classIndex?: number }): Promise<Explanation>;
  /** Classifies a video or camera stream, one frame in flight, until the returned `stop()` is called. */
  classifyVideo(source: HTMLVideoElement | MediaStream, options: VideoOptions): () => void;
  /** The pooled features before the classifier head (e.g. 1280 for EfficientNet-Lite0). */
  embed(source: ImageSource): Promise<Float32Array>;
  /** Raw model output for a tensor in the model's own layout (NCHW for most), without preprocessing. */
  infer(input: Float32Array, shape: number[]): Promise<Float32Array>;
  /** Diagnostics: the wasm heap's size, the CPU threads. */
  stats(): Promise<Stats>;
  /** The model file's identity; a taught head remembers it. */
  readonly modelId: string;
  /** A new, empty head of few-shot classes on this model's embeddings (k defaults to 5). */
  createHead(options?: { k?: number }): Head;
  /** A head saved with `toJSON()` (the object or its text); INVALID_INPUT if another model taught it, or the data is malformed. */
  loadHead(json: HeadJSON | string): Head;
  /** Frees the model (and the worker); every call not yet settled, and every later one, rejects with DISPOSED. */
  dispose(): void;
}
