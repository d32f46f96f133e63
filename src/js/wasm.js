// Loads the wasm once per JS realm (page or worker). The URLs are written as
// `new URL("./file", import.meta.url)` literals (in variants.js) so bundlers
// find and emit the files.
import init, { initSync, ModelStream, Session } from "./webresnet.js";
import { plainWasmUrl, relaxedWasmUrl } from "./variants.js";
import { WebResnetError } from "./errors.js";
import { readLocalFile } from "./local_file.js";
import { packageFile } from "./package_dir.js";

// A module whose one export returns lane 0 of
// i16x8.relaxed_dot_i8x16_i7x16_s(splat -3, splat 5), which is 2 * -3 * 5 = -30:
// the instruction the relaxed build's int8 kernels are made of. Engines without
// relaxed SIMD refuse the module; one that got it wrong (as Node 20's baseline
// compiler does the i32x4 dot-add form) would get the SIMD128 build.
function relaxedSimdWorks() {
  const v128 = (/** @type {number[]} */ bytes) => [0xfd, 0x0c, ...bytes]; // v128.const
  const body = [
    0x00, // no locals
    ...v128(new Array(16).fill(0xfd)), // -3 as i8
    ...v128(new Array(16).fill(5)),
    ...[0xfd, 0x92, 0x02], // i16x8.relaxed_dot_i8x16_i7x16_s
    ...[0xfd, 0x18, 0x00], // i16x8.extract_lane_s 0
    0x0b, // end
  ];
  const code = [0x01, body.length, ...body];
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f], // types: () -> i32
    ...[0x03, 0x02, 0x01, 0x00], // one function of type 0
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
    ...[0x0a, code.length, ...code],
  ]);
  try {
    const { f } = /** @type {{ f: () => number }} */ (new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports);
    return f() === -30;
  } catch {
    return false;
  }
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
 * bounds a conv) where the threaded build (`threadedBuild`, see threads.js;
 * only worker.js has it) can run, else 1. It needs shared memory, which
 * needs a cross-origin isolated page, and a worker: rayon's threads block
 * on Atomics.wait, which a page's main thread may not.
 */
/**
 * @typedef {(n: number) => Promise<{ Session: any, ModelStream: any, memory: WebAssembly.Memory }>} ThreadedBuild
 * @param {number | undefined} wanted
 * @param {ThreadedBuild | null | undefined} threadedBuild
 */
export function cpuThreads(wanted, threadedBuild) {
  const n = wanted ?? Math.min(globalThis.navigator?.hardwareConcurrency ?? 1, 4);
  // WorkerGlobalScope is not in the DOM's types; looked up so the page side reads it too.
  const { WorkerGlobalScope } = /** @type {{ WorkerGlobalScope?: Function }} */ (globalThis);
  const inWorker = typeof WorkerGlobalScope === "function" && globalThis instanceof WorkerGlobalScope;
  const possible =
    threadedBuild && globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function" && inWorker;
  return possible ? n : 1;
}

// Resolves to the wasm-bindgen classes `{ Session, ModelStream }` once the
// module is instantiated. The first call in a realm picks the build: `threads` > 1
// (see cpuThreads) loads `threadedBuild`, falling back to one thread if it
// can't start (no memory for a shared heap, workers refused).
/**
 * @param {{ threads?: number, threadedBuild?: ThreadedBuild | null }} [options]
 */
export function loadWasm({ threads: wanted = 1, threadedBuild } = {}) {
  loading ??= (async () => {
    if (wanted > 1 && threadedBuild) {
      try {
        const build = await threadedBuild(wanted);
        memory = build.memory;
        threads = wanted;
        return { Session: build.Session, ModelStream: build.ModelStream };
      } catch (e) {
        threadsFallback = `the threaded build did not start: ${e?.message ?? e}`;
      }
    }
    const url = packageFile(relaxedWasmUrl && relaxedSimdWorks() ? relaxedWasmUrl() : plainWasmUrl());
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
