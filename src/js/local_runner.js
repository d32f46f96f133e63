// One loaded model on one backend, in the thread that runs the wasm (the
// page, or the worker in worker mode). Calls run one at a time, in order.
import { WebResnetError, abortedError, throwIfAborted, toWebResnetError } from "./errors.js";
import { cpuThreads, loadWasm, wasmMemoryBytes, wasmThreads } from "./wasm.js";
import { loadModelBytes } from "./model.js";
import { toFrame, toPicture } from "./source.js";
import { modelIdentity } from "./identity.js";
import { choices, openAuto } from "./backend_choice.js";

const BACKENDS = ["auto", "webgpu", "cpu"];

export function checkOptions(options) {
  if (options === null || typeof options !== "object")
    throw new WebResnetError("INVALID_INPUT", "options must be an object");
  const backend = options.backend ?? "auto";
  if (!BACKENDS.includes(backend)) {
    throw new WebResnetError(
      "INVALID_INPUT",
      `backend must be one of ${BACKENDS.join(", ")}, not ${JSON.stringify(backend)}`,
    );
  }
  const { threads } = options;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw new WebResnetError("INVALID_INPUT", `threads must be a positive integer, not ${threads}`);
  }
  for (const name of ["onProgress", "onBackendChange"]) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new WebResnetError("INVALID_INPUT", `${name} must be a function`);
    }
  }
  const { signal } = options;
  if (
    signal !== undefined &&
    !(typeof signal?.aborted === "boolean" && typeof signal.addEventListener === "function")
  ) {
    throw new WebResnetError("INVALID_INPUT", "signal must be an AbortSignal");
  }
  return backend;
}

export function checkTopK(topK) {
  if (!(Number.isInteger(topK) && topK >= 1))
    throw new WebResnetError("INVALID_INPUT", `topK must be a positive integer, not ${topK}`);
  return topK;
}

export function checkClassIndex(classIndex) {
  if (classIndex !== undefined && !(Number.isInteger(classIndex) && classIndex >= 0 && classIndex < 2 ** 32)) {
    throw new WebResnetError("INVALID_INPUT", `classIndex must be a class's index, not ${classIndex}`);
  }
}

export function checkInfer(input, shape) {
  if (!(input instanceof Float32Array))
    throw new WebResnetError("INVALID_INPUT", "infer: input must be a Float32Array");
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new WebResnetError("INVALID_INPUT", "infer: shape must be an array of positive integers");
  }
}

// `streamed`: a ModelStream of the same bytes, or undefined; the first create
// takes it, a later one reads the bytes. Each create ends with one warm-up
// inference, after calling `warmUp`, and is timed from there (the model's hash
// check overlaps the warm-up and seldom outlasts it). Resolves to
// `{ session, reason }`: the reason for its backend.
async function openSession(Session, bytes, backend, streamed, warmUp) {
  let stream = streamed;
  const create = async (backend) => {
    let started = 0;
    const taken = stream;
    stream = undefined;
    const session = await Session.create(bytes, backend, undefined, taken, () => {
      warmUp();
      started = performance.now();
    });
    return { session, warmUpMs: performance.now() - started };
  };
  if (backend !== "auto") return { session: (await create(backend)).session, reason: `"${backend}" was asked for` };
  return openAuto({
    gpu: globalThis.navigator?.gpu,
    userAgent: globalThis.navigator?.userAgent ?? "",
    store: choices,
    create,
    timeRun: async (session) => {
      const shape = session.inputShape();
      const t0 = performance.now();
      await session.infer(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
      return performance.now() - t0;
    },
  });
}

// Hands a download's chunks to the wasm as they arrive (a ModelStream, see
// src/web/import.rs), so that a project model file is read during the download
// (and, with `webgpu`, its GPU pipelines compiled from its header meanwhile).
// Chunks that come before the wasm is in wait for it. `take()`, once both are
// in, returns the stream (undefined if nothing was downloaded).
function streamInto(wasm, webgpu) {
  let glue, announced, stream;
  let waiting = [];
  let discarded = false;
  wasm.then((g) => (glue = g)).catch(() => {});
  const feed = () => {
    stream ??= new glue.ModelStream(announced, webgpu);
    for (const chunk of waiting) stream.push(chunk);
    waiting = [];
  };
  return {
    onChunk(chunk, total) {
      if (discarded) return;
      announced ??= total;
      if (announced === undefined) return; // unknown length: the bytes are read after the download
      waiting.push(chunk);
      if (glue) feed();
    },
    take() {
      if (!glue || announced === undefined) return undefined;
      feed();
      const taken = stream;
      stream = undefined;
      return taken;
    },
    // A create that failed or was aborted before taking the stream frees
    // what it had read into the wasm heap now, not at some later GC.
    discard() {
      discarded = true;
      stream?.free();
      stream = undefined;
      waiting = [];
    },
  };
}

export const disposedError = () => new WebResnetError("DISPOSED", "the classifier was disposed");

export class LocalRunner {
  #session;
  #mode;
  #onBackendChange;
  #queue = Promise.resolve();
  #disposed = false;
  // Set once a video's frame failed to copy to the GPU straight.
  #videoViaBitmap = false;
  /** "webgpu" | "cpu-simd" | "cpu-simd-threads" (the threaded build, with more than one thread). */
  backend;
  /** CPU threads of this realm's build: 1, or the threaded build's pool size. */
  threads = 1;
  /** The WebGPU adapter's description, or null on the CPU. */
  adapter;
  /** Why "auto" is not on WebGPU (null when it is, or was not asked to be). */
  fallbackReason = null;
  /** Why this backend runs: what was asked for, or how "auto" chose. */
  backendReason = "";
  /** The model file's identity (see identity.js): a taught head is kept to the model it was taught on. */
  /** @type {string | null} */
  modelId = null;
  /** How `create` got the GPU pipelines (see Stats.coldStart in index.d.ts); read once, kept. */
  #coldStart;

  constructor(session, mode, reason, onBackendChange) {
    this.#session = session;
    this.#mode = mode;
    this.backendReason = reason;
    this.fallbackReason = mode === "auto" && session.backend() !== "webgpu" ? reason : null;
    this.#onBackendChange = onBackendChange;
    this.#coldStart = session.loadStats();
  }

  // Kept as plain fields: they stay readable after the session is freed.
  #noteBackend() {
    const gpu = this.#session.backend() === "webgpu";
    this.threads = wasmThreads().threads;
    this.backend = gpu ? "webgpu" : this.threads > 1 ? "cpu-simd-threads" : "cpu-simd";
    this.adapter = gpu ? this.#session.adapterInfo() : null;
  }

  // `threadedBuild`: see cpuThreads (worker.js passes it).
  /**
   * @param {any} [options]
   * @param {{ threadedBuild?: import("./wasm.js").ThreadedBuild | null }} [builds]
   */
  static async create(options = {}, { threadedBuild } = {}) {
    const mode = checkOptions(options);
    const { signal } = options;
    throwIfAborted(signal);
    const progress = (phase, loaded, total) => options.onProgress?.({ phase, loaded, total });
    let incoming;
    try {
      // WebGPU alone has no use for CPU threads.
      const threads = mode === "webgpu" ? 1 : cpuThreads(options.threads, threadedBuild);
      const wasm = loadWasm({ threads, threadedBuild });
      incoming = streamInto(wasm, mode === "webgpu");
      const [{ Session }, bytes] = await Promise.all([
        wasm,
        loadModelBytes(options.model, {
          sha256: options.sha256,
          cache: options.cache,
          onProgress: options.onProgress,
          onChunk: incoming.onChunk,
          signal,
        }),
      ]);
      throwIfAborted(signal);
      progress("compile", 0, 1);
      // The session calls it when its backend is built (again, after a fallback).
      let warming = false;
      const warmUp = () => {
        if (warming) return;
        warming = true;
        progress("compile", 1, 1);
        progress("warmup", 0, 1);
      };
      const { session, reason } = await openSession(Session, bytes, mode, incoming.take(), warmUp);
      // The wasm's build and warm-up run to their end; an abort during them
      // frees what they made.
      if (signal?.aborted) {
        session.free();
        throw abortedError(signal);
      }
      if (options.labels) session.setLabels(options.labels.map(String));
      const runner = new LocalRunner(session, mode, reason, options.onBackendChange);
      runner.modelId = modelIdentity(bytes);
      runner.#noteBackend();
      progress("warmup", 1, 1);
      return runner;
    } catch (e) {
      incoming?.discard();
      throw toWebResnetError(e);
    }
  }

  // Runs `fn(session)` after every earlier call; once disposed, calls still
  // queued don't run. A lost GPU device is replaced (a new device, or the CPU
  // under "auto") and the call retried once.
  #call(fn) {
    const run = this.#queue.then(async () => {
      if (this.#disposed) throw disposedError();
      try {
        return await fn(this.#session);
      } catch (e) {
        if (e?.code !== "WEBGPU_UNAVAILABLE" || this.#session.backend() !== "webgpu") throw toWebResnetError(e);
        await this.#recover(e);
        return await fn(this.#session).catch((e2) => Promise.reject(toWebResnetError(e2)));
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #recover(lost) {
    const previous = this.backend;
    try {
      await this.#session.setBackend("webgpu");
    } catch (e) {
      if (this.#mode !== "auto") throw toWebResnetError(e);
      await this.#session.setBackend("cpu");
      this.fallbackReason = this.backendReason = lost.message;
    } finally {
      this.#noteBackend();
    }
    // Told after the call that met the loss has its new backend; a throwing
    // handler surfaces as the page's error, not as this call's.
    const change = { backend: this.backend, previous, reason: lost.message };
    if (this.#onBackendChange) queueMicrotask(() => this.#onBackendChange(change));
  }

  // On WebGPU, a source the browser can copy to the GPU goes there as it is
  // and is preprocessed there (`onFrame`); its pixels are never read back to
  // the page. Anything else, and every source on the CPU, is read as pixels
  // (`onPixels`), as is a frame whose call a lost GPU device moved to the CPU.
  async #picture(source, onFrame, onPixels) {
    const frame = this.backend === "webgpu" ? await toFrame(source, this.#videoViaBitmap) : null;
    if (!frame) {
      const picture = await toPicture(source);
      return this.#call((s) => onPixels(s, picture));
    }
    try {
      return await this.#call(async (s) =>
        s.backend() === "webgpu" ? onFrame(s, frame) : onPixels(s, await toPicture(frame.frame)),
      );
    } catch (e) {
      // Some browsers can't copy a video's frame to the GPU straight (Chromium
      // on SwiftShader); an ImageBitmap of it, which the browser makes without
      // the page reading pixels, they can. Tried once, then kept.
      if (e?.code !== "INVALID_INPUT" || !frame.video || this.#videoViaBitmap) throw e;
      this.#videoViaBitmap = true;
      return this.#picture(source, onFrame, onPixels);
    } finally {
      frame.close();
    }
  }

  async classify(source, topK = 5) {
    checkTopK(topK);
    return this.#picture(
      source,
      (s, f) => s.classifyFrame(f.frame, f.width, f.height, topK),
      (s, p) => (p.encoded ? s.classifyBytes(p.encoded, topK) : s.classifyRgba(p.rgba, p.width, p.height, topK)),
    );
  }

  async embed(source) {
    return this.#picture(
      source,
      (s, f) => s.embedFrame(f.frame, f.width, f.height),
      (s, p) => (p.encoded ? s.embedBytes(p.encoded) : s.embedRgba(p.rgba, p.width, p.height)),
    );
  }

  // Class `classIndex`'s activation map (the top-1's when undefined) and the
  // top-k, from one pass: `{ classIndex, label, width, height, heatmap, top, crop }`.
  async explain(source, classIndex, topK = 5) {
    checkTopK(topK);
    checkClassIndex(classIndex);
    const picture = await toPicture(source);
    return this.#call((s) =>
      picture.encoded
        ? s.explainBytes(picture.encoded, classIndex, topK)
        : s.explainRgba(picture.rgba, picture.width, picture.height, classIndex, topK),
    );
  }

  async infer(input, shape) {
    checkInfer(input, shape);
    return this.#call((s) => s.infer(input, shape));
  }

  /** The wasm heap's size in bytes (this realm's, shared by its classifiers) and the CPU threads. */
  async stats() {
    return { wasmMemoryBytes: wasmMemoryBytes(), ...wasmThreads(), coldStart: this.#coldStart };
  }

  /** Frees the wasm side once the call running now has finished; queued calls reject with DISPOSED. */
  dispose() {
    if (this.#disposed) return this.#queue;
    this.#disposed = true;
    this.#queue = this.#queue.then(() => this.#session.free());
    return this.#queue;
  }
}
