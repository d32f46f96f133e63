// Model bytes from a URL (through the Cache API), a file (Node) or memory,
// with an optional SHA-256 check.
import { WebResnetError, abortedError } from "./errors.js";
import { readLocalFile } from "./local_file.js";
import { resolveUrl } from "./url.js";
import { packageFile, prebundledPackageDir } from "./package_dir.js";

const CACHE_NAME = "webresnet-models";

// The default ImageNet model shipped in the package (EfficientNet-Lite0, f16).
export const defaultModelUrl = () => packageFile(new URL("./model/default.wrn", import.meta.url));

async function sha256Hex(bytes) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle)
    throw new WebResnetError("INTEGRITY", "cannot check sha256: crypto.subtle is missing (not a secure context?)");
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function matchesHash(bytes, sha256) {
  return !sha256 || (await sha256Hex(bytes)) === sha256.toLowerCase();
}

async function verified(bytes, sha256, what) {
  if (!(await matchesHash(bytes, sha256))) {
    throw new WebResnetError("INTEGRITY", `${what}: SHA-256 differs from the expected ${sha256}`);
  }
  return bytes;
}

// Where the wasm looks for the digests of a model file's pieces (PIECE_DIGESTS
// in src/web/digest.rs): a promise of digest_worker.js's reply.
const PIECE_DIGESTS = Symbol.for("webresnet.pieceDigests");

// How long the digests may take after the last chunk before the wasm digests
// the pieces itself: a worker that never answers (Firefox under an automation
// session, see docs/engines.md) must not hold `create` for good.
const DIGEST_REPLY_MS = 10_000;

// A worker that digests the pieces of a model file's data section as the
// download delivers them: its hash check then costs this thread nothing (in
// Chromium a digest runs on the calling thread). Each
// chunk is transferred, not copied. Null where there are no workers (Node:
// the wasm digests there, off the thread already); a worker that cannot
// start, or does not answer in time, resolves to null, and the wasm digests
// the pieces itself.
function pieceDigester() {
  if (typeof Worker !== "function" || !globalThis.crypto?.subtle) return null;
  let worker;
  try {
    // The literal form is the one bundlers recognise and emit (see package_dir.js).
    const prebundled = prebundledPackageDir(import.meta.url);
    worker = prebundled
      ? new Worker(new URL("digest_worker.js", prebundled), { type: "module" })
      : new Worker(new URL("./digest_worker.js", import.meta.url), { type: "module" });
  } catch {
    return null;
  }
  const reply = new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = () => resolve(null);
  }).finally(() => worker.terminate());
  let ended = false;
  return {
    send: (chunk) => worker.postMessage(chunk, [chunk.buffer]),
    end() {
      ended = true;
      worker.postMessage("end");
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => {
          worker.terminate();
          resolve(null);
        }, DIGEST_REPLY_MS);
      });
      return Promise.race([reply.finally(() => clearTimeout(timer)), late]);
    },
    // Stops a worker that was not asked for its digests (a failed read, a body read whole).
    cancel: () => ended || worker.terminate(),
  };
}

// Reads a response body, reporting progress as chunks arrive. Chunks land in
// place in a buffer of the announced length (grown if the body is longer),
// and each is handed to `onChunk(bytes, announcedLength)` as it lands, and
// to `digester` (see pieceDigester) if there is one.
async function readBody(response, { report, onChunk, signal }, digester) {
  const total = Number(response.headers.get("content-length")) || undefined;
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    report(bytes.length, total ?? bytes.length);
    return bytes;
  }
  let bytes = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  report(0, total);
  const reader = response.body.getReader();
  for (;;) {
    // A cached body is not tied to the fetch's signal: checked here as well.
    if (signal?.aborted) {
      reader.cancel().catch(() => {});
      throw abortedError(signal);
    }
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (signal?.aborted) throw abortedError(signal);
      throw new WebResnetError("NETWORK", `the model's download broke off: ${e?.message ?? e}`, { cause: e });
    }
    const { done, value } = chunk;
    if (done) break;
    if (loaded + value.length > bytes.length) {
      const grown = new Uint8Array(Math.max(loaded + value.length, 2 * bytes.length));
      grown.set(bytes.subarray(0, loaded));
      bytes = grown;
    }
    bytes.set(value, loaded);
    onChunk?.(bytes.subarray(loaded, loaded + value.length), total);
    loaded += value.length;
    digester?.send(value);
    report(loaded, total);
  }
  if (loaded < bytes.length) bytes = bytes.slice(0, loaded);
  if (digester) bytes[PIECE_DIGESTS] = digester.end();
  return bytes;
}

async function openCache() {
  try {
    return globalThis.caches ? await globalThis.caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. opaque origins and some private modes refuse the Cache API
  }
}

// The digest worker is started first (a worker needs this thread's help to
// start, which it may not get before the read ends if the thread is busy
// then), and stopped here if no read asked for its digests.
async function download(url, options) {
  const digester = pieceDigester();
  try {
    return await downloadWith(url, options, digester);
  } finally {
    digester?.cancel();
  }
}

async function downloadWith(url, { sha256, cache, report, onChunk, signal }, digester) {
  const store = cache ? await openCache() : null;
  const hit = store && (await store.match(url.href));
  if (hit) {
    // Read as a download is, so the digest worker checks the file on the way.
    const bytes = await readBody(hit, { report, onChunk, signal }, digester);
    if (await matchesHash(bytes, sha256)) return bytes;
    // Stale or damaged: fetch again; the copy is replaced only by one that matches.
  }
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (e) {
    if (signal?.aborted) throw abortedError(signal);
    throw new WebResnetError("NETWORK", `cannot fetch ${url.href}: ${e?.message ?? e}`, { cause: e });
  }
  if (!response.ok) throw new WebResnetError("NETWORK", `cannot fetch ${url.href}: HTTP ${response.status}`);
  // After a stale cached copy (rare) the worker has had its turn: the wasm digests the new bytes itself.
  const body = await readBody(response, { report, onChunk, signal }, hit ? null : digester);
  const bytes = await verified(body, sha256, url.href);
  if (store) {
    // A full or refusing cache must not fail the load.
    // The length lets a later read place the chunks without growing its buffer.
    const headers = { "content-type": "application/octet-stream", "content-length": String(bytes.length) };
    await store.put(url.href, new Response(bytes, { headers })).catch(() => {});
  }
  return bytes;
}

// `model`: URL/string, ArrayBuffer, a typed array, or undefined (the default model).
// `onChunk` sees a download's bytes as they arrive (not those of a file or an array).
/**
 * @param {import("./index.js").ClassifierOptions["model"]} model
 * @param {{
 *   sha256?: string,
 *   cache?: boolean,
 *   onProgress?: (progress: import("./index.js").Progress) => void,
 *   onChunk?: (chunk: Uint8Array, total: number | undefined) => void,
 *   signal?: AbortSignal,
 * }} [options]
 * @returns {Promise<Uint8Array>}
 */
export async function loadModelBytes(model, { sha256, cache = true, onProgress, onChunk, signal } = {}) {
  const report = (loaded, total) => onProgress?.({ phase: "download", loaded, total });
  if (model instanceof ArrayBuffer || ArrayBuffer.isView(model)) {
    const view = ArrayBuffer.isView(model)
      ? new Uint8Array(model.buffer, model.byteOffset, model.byteLength)
      : new Uint8Array(model);
    const bytes = await verified(view, sha256, "model bytes");
    report(bytes.length, bytes.length);
    return bytes;
  }
  if (model !== undefined && typeof model !== "string" && !(model instanceof URL)) {
    throw new WebResnetError("INVALID_INPUT", "model must be a URL, an ArrayBuffer, a Uint8Array or omitted");
  }
  const url = model === undefined ? defaultModelUrl() : resolveUrl(model, "model");
  if (url.protocol === "file:") {
    let bytes;
    try {
      bytes = await readLocalFile(url);
    } catch (e) {
      throw new WebResnetError("NETWORK", `cannot read ${url.href}: ${e.message}`, { cause: e });
    }
    await verified(bytes, sha256, url.href);
    report(bytes.length, bytes.length);
    return bytes;
  }
  return download(url, { sha256, cache, report, onChunk, signal });
}
