// Loads the wasm once per JS realm (page or worker). The URLs are written as
// `new URL("./file", import.meta.url)` literals (in variants.js) so bundlers
// find and emit the files.
import init, { initSync, ModelStream, Session } from "./webresnet.js";
import { plainWasmUrl, relaxedWasmUrl, threadsBuild } from "./variants.js";
import { WebResnetError } from "./errors.js";
import { readLocalFile } from "./local_file.js";

// The smallest module using a relaxed-SIMD instruction:
// (func (result v128) (f32x4.relaxed_madd (v128.const 0) (v128.const 0) (v128.const 0))).
// Engines without relaxed SIMD refuse it, so it tells which build can run.
function relaxedSimdProbe() {
  const zero = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  const body = [0x00, ...zero, ...zero, ...zero, 0xfd, 0x85, 0x02, 0x0b]; // no locals ... relaxed_madd end
  const code = [0x01, body.length, ...body];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // types: () -> v128
    ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
    ...[0x0a, code.length, ...code],
  ]);
}

/** @type {Promise<{ Session: typeof Session, ModelStream: typeof ModelStream }> | undefined} */
let loading;
/** @type {WebAssembly.Memory | undefined} */
let memory; // the instance's WebAssembly.Memory, once loaded
let threads = 1; // the CPU threads of the loaded build
/** @type {string | null} */
let threadsFallback = null; // why the threaded build was asked for but not loaded

/** Bytes in this realm's wasm heap (shared by every classifier in the realm); 0 before loading. */
export const wasmMemoryBytes = () => memory?.buffer.byteLength ?? 0;

/** `{ threads, threadsFallback }` of this realm's build. */
export const wasmThreads = () => ({ threads, threadsFallback });

/**
 * The CPU threads a realm's build should run: `wanted` (by default the
 * machine's cores, at most 4: beyond that memory bandwidth, not cores,
 * bounds a conv) where the threaded build can run, else 1. It needs shared
 * memory, which needs a cross-origin isolated page, and a worker: rayon's
 * threads block on Atomics.wait, which a page's main thread may not.
 */
export function cpuThreads(wanted) {
  const n = wanted ?? Math.min(globalThis.navigator?.hardwareConcurrency ?? 1, 4);
  // WorkerGlobalScope is not in the DOM's types; looked up so the page side reads it too.
  const { WorkerGlobalScope } = /** @type {{ WorkerGlobalScope?: Function }} */ (globalThis);
  const inWorker = typeof WorkerGlobalScope === "function" && globalThis instanceof WorkerGlobalScope;
  const possible =
    threadsBuild && globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function" && inWorker;
  return possible ? n : 1;
}

// The threaded build with a pool of `n` workers; resolves to its `Session` class.
async function loadThreaded(n) {
  if (!threadsBuild) throw new Error("this package has no threaded build");
  const { glue, wasmUrl } = threadsBuild();
  const { default: initThreaded, initThreadPool, ...classes } = await glue;
  const exports = await initThreaded({ module_or_path: wasmUrl });
  await initThreadPool(n);
  memory = exports.memory;
  threads = n;
  return { Session: classes.Session, ModelStream: classes.ModelStream };
}

// Resolves to the wasm-bindgen classes `{ Session, ModelStream }` once the
// module is instantiated. The first call in a realm picks the build: `threads` > 1
// (see cpuThreads) loads the threaded one, falling back to one thread if it
// can't start (no memory for a shared heap, workers refused).
export function loadWasm({ threads: wanted = 1 } = {}) {
  loading ??= (async () => {
    if (wanted > 1) {
      try {
        return await loadThreaded(wanted);
      } catch (e) {
        threadsFallback = `the threaded build did not start: ${e?.message ?? e}`;
      }
    }
    const url = relaxedWasmUrl && WebAssembly.validate(relaxedSimdProbe()) ? relaxedWasmUrl() : plainWasmUrl();
    try {
      const exports =
        url.protocol === "file:" ? initSync({ module: await readLocalFile(url) }) : await init({ module_or_path: url });
      memory = exports.memory;
    } catch (e) {
      loading = undefined; // a later create may retry (e.g. after a network error)
      throw new WebResnetError("WASM_LOAD", `cannot load ${url}: ${e?.message ?? e}`, { cause: e });
    }
    return { Session, ModelStream };
  })();
  return loading;
}
