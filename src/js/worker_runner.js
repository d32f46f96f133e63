// Worker mode, page side: the same calls as LocalRunner, sent to worker.js.
// Frames cross as transferred ImageBitmaps; results come back transferred.
import { WebResnetError, abortedError, errorFromData, throwIfAborted } from "./errors.js";
import { checkClassIndex, checkInfer, checkOptions, checkTopK, disposedError } from "./local_runner.js";
import { resolveUrl } from "./url.js";
import { prebundledPackageDir } from "./package_dir.js";
import { checkReadable, isEncoded, isImageData, toBitmap } from "./source.js";
import { choices } from "./backend_choice.js";

// What the worker can take as is. Anything drawable becomes an ImageBitmap
// here, because only this thread can read an element's pixels.
async function transferable(source) {
  if (source == null) throw new WebResnetError("INVALID_INPUT", "no image given");
  if (isImageData(source) || isEncoded(source) || source instanceof Blob) return { source, transfer: [] };
  const bitmap = await toBitmap(source);
  try {
    checkReadable(bitmap);
  } catch (e) {
    bitmap.close();
    throw e;
  }
  return { source: bitmap, transfer: [bitmap] };
}

// A healthy pool starts in well under a second; a stalled one never does.
const POOL_START_LIMIT_MS = 15_000;

// Workers that may try to start a thread pool before the classifier settles
// for one thread. A stall is bad luck, not the build's: a fresh worker
// usually starts its pool.
const POOL_TRIES = 2;

export class WorkerRunner {
  #worker;
  #poolTimer;
  #poolStalled = false;
  /** @type {string | null} */
  #threadsFallback = null;
  #pending = new Map();
  #nextId = 0;
  #onBackendChange;
  #disposed = false;
  backend = null;
  threads = 1;
  adapter = null;
  fallbackReason = null;
  backendReason = "";
  /** @type {string | null} */
  modelId = null;

  constructor(worker, onBackendChange) {
    this.#worker = worker;
    this.#onBackendChange = onBackendChange;
    worker.onmessage = ({ data }) => this.#receive(data);
    // The worker script failed to load or threw outside a call: every
    // pending call fails, and so does every later one.
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#rejectAll(new WebResnetError("WASM_LOAD", `the worker failed: ${event.message ?? "script error"}`));
    };
  }

  #rejectAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }

  static async create(options = {}, poolTries = POOL_TRIES) {
    checkOptions(options);
    if (typeof Worker !== "function") throw new WebResnetError("INVALID_INPUT", "worker mode needs Web Workers");
    const { onProgress, onBackendChange, model, signal, ...rest } = options;
    throwIfAborted(signal);
    // Relative URLs mean the page's, not the worker script's; URL objects don't clone.
    const args = {
      ...rest,
      model: typeof model === "string" || model instanceof URL ? resolveUrl(model, "model").href : model,
      // The worker has no localStorage: "auto"'s remembered choice goes along, and comes back in the state.
      backendChoice: choices.latest,
    };
    // The literal form is the one bundlers recognise and emit (see package_dir.js).
    const prebundled = prebundledPackageDir(import.meta.url);
    const worker = prebundled
      ? new Worker(new URL("worker.js", prebundled), { type: "module" })
      : new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const runner = new WorkerRunner(worker, onBackendChange);
    // Stopping the worker stops its download, build and warm-up at once.
    const abort = () => {
      runner.#stop();
      runner.#rejectAll(abortedError(signal));
    };
    signal?.addEventListener("abort", abort);
    try {
      await runner.#send("create", args, [], onProgress);
    } catch (e) {
      runner.#stop();
      if (!runner.#poolStalled) throw e;
      if (poolTries > 1) return WorkerRunner.create(options, poolTries - 1);
      // The last stalled worker is gone; a fresh one without a pool cannot stall so.
      const single = await WorkerRunner.create({ ...options, threads: 1 });
      single.#threadsFallback = `the thread pool did not start within ${POOL_START_LIMIT_MS / 1000} s, in ${POOL_TRIES} workers`;
      return single;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
    return runner;
  }

  #send(op, args, transfer = [], onProgress) {
    // A call that got here after dispose() (it was still preparing its frame)
    // must not wait on a stopped worker.
    if (this.#disposed && op !== "dispose") return Promise.reject(disposedError());
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, op, args }, transfer);
    });
  }

  #watchPool(pool) {
    clearTimeout(this.#poolTimer);
    if (pool !== "starting") return;
    this.#poolTimer = setTimeout(() => {
      this.#poolStalled = true;
      this.#rejectAll(new WebResnetError("WASM_LOAD", "the worker's thread pool did not start"));
    }, POOL_START_LIMIT_MS);
  }

  #stop() {
    clearTimeout(this.#poolTimer);
    this.#worker.terminate();
  }

  #receive({ id, value, error, progress, state, backendChange, pool }) {
    if (pool) return this.#watchPool(pool);
    if (backendChange) {
      this.backend = backendChange.backend;
      return this.#onBackendChange?.(backendChange);
    }
    const call = this.#pending.get(id);
    if (!call) return;
    if (progress) return call.onProgress?.(progress);
    this.#pending.delete(id);
    if (state) {
      const { backendChoice, ...rest } = state;
      choices.adopt(backendChoice);
      Object.assign(this, rest);
    }
    if (error) call.reject(errorFromData(error));
    else call.resolve(value);
  }

  async classify(source, topK = 5) {
    checkTopK(topK);
    const t = await transferable(source);
    return this.#send("classify", { source: t.source, topK }, t.transfer);
  }

  async embed(source) {
    const t = await transferable(source);
    return this.#send("embed", { source: t.source }, t.transfer);
  }

  async explain(source, classIndex, topK = 5) {
    checkTopK(topK);
    checkClassIndex(classIndex);
    const t = await transferable(source);
    return this.#send("explain", { source: t.source, classIndex, topK }, t.transfer);
  }

  async infer(input, shape) {
    checkInfer(input, shape);
    return this.#send("infer", { input, shape });
  }

  /** @returns {Promise<import("./index.js").Stats>} the worker's LocalRunner's */
  async stats() {
    const stats = await this.#send("stats", {});
    return { ...stats, threadsFallback: stats.threadsFallback ?? this.#threadsFallback };
  }

  // Calls in flight reject now; the worker finishes the one it is running,
  // frees the model, and is then stopped.
  async dispose() {
    this.#disposed = true;
    this.#rejectAll(disposedError());
    try {
      await this.#send("dispose", {});
    } finally {
      this.#stop();
    }
  }
}
