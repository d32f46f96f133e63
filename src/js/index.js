// webresnet: image classification in the browser (WebGPU, or wasm SIMD on
// the CPU) and in Node (CPU).
//
//   import { Classifier } from "webresnet";
//   const clf = await Classifier.create();            // the default ImageNet model
//   const top = await clf.classify(imageElement);     // [{ label, index, probability }]
import { WebResnetError, toWebResnetError } from "./errors.js";
import { LocalRunner, disposedError } from "./local_runner.js";
import { WorkerRunner } from "./worker_runner.js";
import { predictionFilter } from "./predictions.js";
import { classifyVideo } from "./video.js";
import { Head } from "./head.js";
import { benchmark } from "./benchmark.js";
import { fetchedSource } from "./source.js";

export { WebResnetError };

// The public types are index.d.ts's: the JSDoc below makes tsc check this
// implementation against them (`make lint`).
/** @typedef {import("./index.js").ClassifierOptions} ClassifierOptions */
/** @typedef {import("./index.js").ImageSource} ImageSource */

const CONSTRUCT = Symbol("Classifier.create");
// "Every class", for a filter that may drop some of the top k.
const ALL_CLASSES = 2 ** 31 - 1;

// The wasm's explanation, as the API gives it.
const explanationOf = ({ classIndex, label, width, height, heatmap, crop: [left, top, right, bottom] }) => ({
  classIndex,
  label,
  width,
  height,
  heatmap,
  crop: { left, top, right, bottom },
});

export class Classifier {
  /** @type {LocalRunner | WorkerRunner} */
  #runner;
  #disposed = false;

  /** Use `Classifier.create`. */
  constructor(token, runner) {
    if (token !== CONSTRUCT) throw new TypeError("use Classifier.create(options)");
    this.#runner = runner;
  }

  /**
   * @param {ClassifierOptions} [options]
   * @returns {Promise<Classifier>}
   */
  static async create(options = {}) {
    try {
      const runner = options?.worker ? await WorkerRunner.create(options) : await LocalRunner.create(options);
      return new Classifier(CONSTRUCT, runner);
    } catch (e) {
      throw toWebResnetError(e);
    }
  }

  /**
   * Times `model` on each backend (cold: load to first result; warm: `runs` classify calls after that)
   * and reports which backend "auto" takes here, and why.
   * @param {import("./index.js").BenchmarkOptions} [options]
   * @returns {Promise<import("./index.js").BenchmarkResult>}
   */
  static benchmark(options = {}) {
    return benchmark((o) => Classifier.create(o), options ?? {});
  }

  /** "webgpu" | "cpu-simd" | "cpu-simd-threads"; may change to the CPU if the GPU device is lost under "auto". */
  /** @returns {import("./index.js").Backend} */
  get backend() {
    return this.#runner.backend;
  }

  /** CPU threads: 1, or the pool of the threaded build (a cross-origin isolated worker; see `threads`). */
  /** @returns {number} */
  get threads() {
    return this.#runner.threads;
  }

  /** The WebGPU adapter's description; null on the CPU. */
  /** @returns {string | null} */
  get adapter() {
    return this.#runner.adapter;
  }

  /** Why "auto" runs on the CPU (null when on WebGPU, or when the CPU was asked for). */
  /** @returns {string | null} */
  get fallbackReason() {
    return this.#runner.fallbackReason;
  }

  /** Why this backend runs: the backend asked for, or how "auto" chose it (a software adapter, the faster warm-up, a remembered choice, a failure). */
  /** @returns {string} */
  get backendReason() {
    return this.#runner.backendReason;
  }

  /** The model file's identity; a taught head remembers it. */
  get modelId() {
    return this.#runner.modelId;
  }

  /** A new, empty head of few-shot classes taught on this model's embeddings (k nearest neighbours). */
  createHead({ k = 5 } = {}) {
    if (this.#disposed) throw disposedError();
    return new Head((source) => this.embed(source), this.#runner.modelId, { k });
  }

  /** A head saved with `head.toJSON()` (the object or its JSON text); INVALID_INPUT if another model taught it. */
  loadHead(json) {
    return this.createHead().load(json);
  }

  // A call that settles after dispose() rejects with DISPOSED, whatever it
  // would have given: the page has let the classifier go.
  /**
   * @template T
   * @param {() => Promise<T>} call
   * @returns {Promise<T>}
   */
  #run(call) {
    if (this.#disposed) return Promise.reject(disposedError());
    return call().then(
      (value) => (this.#disposed ? Promise.reject(disposedError()) : value),
      (e) => Promise.reject(this.#disposed ? disposedError() : toWebResnetError(e)),
    );
  }

  /**
   * Top-k classes for one image: `[{ label, index, probability }]`, best first;
   * `scoreThreshold`, `allow` and `deny` filter them.
   * With `explain: true`, resolves to `{ predictions, explanation }`: the top-1's
   * activation map (see `explain`) from the same pass.
   * @param {ImageSource} source
   * @param {import("./index.js").ClassifyOptions & { explain?: boolean }} [options]
   * @returns {Promise<any>}
   */
  classify(source, options = {}) {
    return this.#run(async () => {
      const filter = predictionFilter(options ?? {});
      const k = filter.wide ? ALL_CLASSES : filter.topK;
      const image = await fetchedSource(source);
      if (!options?.explain) return filter.apply(await this.#runner.classify(image, k));
      const e = await this.#runner.explain(image, undefined, k);
      return { predictions: filter.apply(e.top), explanation: explanationOf(e) };
    });
  }

  /**
   * Where in `source` the evidence for class `classIndex` (default: the top-1) lies:
   * its class activation map, `height * width` raw scores over `crop`, the part of
   * the image the model saw (fractions of its width and height).
   * @param {ImageSource} source
   * @param {{ classIndex?: number }} [options]
   * @returns {Promise<import("./index.js").Explanation>}
   */
  explain(source, { classIndex } = {}) {
    return this.#run(async () => explanationOf(await this.#runner.explain(await fetchedSource(source), classIndex, 1)));
  }

  /**
   * Classifies a `<video>` or a MediaStream frame by frame until `stop()`, the returned function, is called.
   * @param {HTMLVideoElement | MediaStream} source
   * @param {import("./index.js").VideoOptions} options
   * @returns {() => void}
   */
  classifyVideo(source, options) {
    if (this.#disposed) throw disposedError();
    return classifyVideo((frame, topK) => this.#run(() => this.#runner.classify(frame, topK)), source, options);
  }

  /**
   * Pooled features before the classifier head, as a Float32Array.
   * @param {ImageSource} source
   * @returns {Promise<Float32Array>}
   */
  embed(source) {
    return this.#run(async () => this.#runner.embed(await fetchedSource(source)));
  }

  /**
   * The model's raw output for an input tensor in its own layout (NCHW for most), no preprocessing.
   * @param {Float32Array} input
   * @param {number[]} shape
   * @returns {Promise<Float32Array>}
   */
  infer(input, shape) {
    return this.#run(() => this.#runner.infer(input, shape));
  }

  /**
   * Diagnostics: `{ wasmMemoryBytes, threads, threadsFallback }`: the wasm heap of the thread running the model, its CPU threads, and why the threaded build did not start if it was asked for.
   * @returns {Promise<import("./index.js").Stats>}
   */
  stats() {
    return this.#run(() => this.#runner.stats());
  }

  /** Frees the model (and the worker); every call not yet settled, and every later one, rejects with DISPOSED. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#runner.dispose().catch(() => {});
  }
}
