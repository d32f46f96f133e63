// Loads the wasm once per JS realm (page or worker). The URLs are written as
// `new URL("./file", import.meta.url)` literals (in variants.js) so bundlers
// find and emit the files.
import init, { initSync, Session } from "./webresnet.js";
import { plainWasmUrl, relaxedWasmUrl } from "./variants.js";
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

let loading;
let memory; // the instance's WebAssembly.Memory, once loaded

/** Bytes in this realm's wasm heap (shared by every classifier in the realm); 0 before loading. */
export const wasmMemoryBytes = () => memory?.buffer.byteLength ?? 0;

// Resolves to the wasm-bindgen `Session` class once the module is instantiated.
export function loadWasm() {
  loading ??= (async () => {
    const url = relaxedWasmUrl && WebAssembly.validate(relaxedSimdProbe()) ? relaxedWasmUrl() : plainWasmUrl();
    try {
      const exports =
        url.protocol === "file:" ? initSync({ module: await readLocalFile(url) }) : await init({ module_or_path: url });
      memory = exports.memory;
    } catch (e) {
      loading = undefined; // a later create may retry (e.g. after a network error)
      throw new WebResnetError("WASM_LOAD", `cannot load ${url}: ${e?.message ?? e}`, { cause: e });
    }
    return Session;
  })();
  return loading;
}
