// "auto"'s choice between WebGPU and the CPU. A GPU emulated in software
// (SwiftShader, llvmpipe/lavapipe, a browser's fallback adapter) is slower
// than the wasm CPU path, so such an adapter means the CPU outright; on any
// other, one warm-up on each backend decides. The choice is remembered for the
// browser (user agent) and the adapter, so a new browser version or another
// GPU decides again: in memory for this realm and, where there is one, in
// localStorage for later visits. A worker has no localStorage: worker mode
// carries the stored choice to the worker and back (`latest`, `adopt`).

export const STORAGE_KEY = "webresnet:backend";
const BACKENDS = ["webgpu", "cpu"];
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

/**
 * The adapter's identity (what a remembered choice is kept under) and, when
 * it computes on the CPU, why the CPU is the better choice.
 * @param {any} adapter a GPUAdapter
 */
export function describeAdapter(adapter) {
  const info = adapter.info ?? {};
  const fields = ["vendor", "architecture", "device", "description"].map((k) => String(info[k] ?? ""));
  // Newer browsers moved the flag from the adapter to its info.
  const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter);
  const name = fields.filter(Boolean).join(" ") || "an unnamed adapter";
  /** @type {string | null} */
  let cpuReason = null;
  if (SOFTWARE.test(fields.join(" ")))
    cpuReason = `the WebGPU adapter (${name}) is a software renderer: its GPU is emulated on the CPU`;
  else if (fallback) cpuReason = `the WebGPU adapter (${name}) is a fallback adapter, which may run on the CPU`;
  return { identity: [...fields, fallback ? "fallback" : ""].join("|"), name, cpuReason };
}

/** What a choice is remembered under: the browser and the adapter. */
export const choiceKey = (userAgent, adapterIdentity) => `${userAgent}\n${adapterIdentity}`;

// A stored record, or null if it is missing or not one this module wrote.
function parse(text) {
  try {
    const r = JSON.parse(text);
    return typeof r?.key === "string" && BACKENDS.includes(r.backend) && typeof r.reason === "string" ? r : null;
  } catch {
    return null;
  }
}

/** localStorage where there is one; null in workers, Node, or where storage is blocked. */
export function localStorageOrNull() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // a sandboxed frame or blocked storage throws on access
  }
}

/** One remembered choice: `{ key, backend, reason }`; a choice for another key replaces it. */
export class ChoiceStore {
  #storage;
  /** @type {{ key: string, backend: string, reason: string } | null} */
  #record = null;

  /** @param {{ getItem(k: string): string | null, setItem(k: string, v: string): void } | null} storage */
  constructor(storage) {
    this.#storage = storage;
  }

  /** The choice remembered for `key`, or null. */
  get(key) {
    const r = this.#stored();
    return r?.key === key ? { backend: r.backend, reason: r.reason } : null;
  }

  set(key, { backend, reason }) {
    this.#record = { key, backend, reason };
    try {
      this.#storage?.setItem(STORAGE_KEY, JSON.stringify(this.#record));
    } catch {
      // Storage full or blocked: the choice still holds for this realm.
    }
  }

  /** The remembered record as text, to hand to another realm; null if none. */
  get latest() {
    const r = this.#stored();
    return r ? JSON.stringify(r) : null;
  }

  /** Takes a record from another realm (`latest`'s text); anything else is ignored. */
  adopt(text) {
    const r = typeof text === "string" ? parse(text) : null;
    if (r) this.set(r.key, r);
  }

  // Storage first: another tab (or realm) may have chosen since.
  #stored() {
    try {
      return parse(this.#storage?.getItem(STORAGE_KEY) ?? "null") ?? this.#record;
    } catch {
      return this.#record;
    }
  }
}

/** This realm's choices. */
export const choices = new ChoiceStore(localStorageOrNull());

// Errors that say WebGPU failed, or can't run this model (a step only the CPU
// has, such as a QDQ model's quantize): "auto" goes on on the CPU. Where the
// model itself is at fault, the CPU refuses it in turn.
const GPU_FAILURES = new Set(["WEBGPU_UNAVAILABLE", "BACKEND", "UNSUPPORTED_MODEL"]);
const isGpuFailure = (e) => GPU_FAILURES.has(e?.code);

const ms = (t) => `${t < 10 ? t.toFixed(1) : Math.round(t)} ms`;

/**
 * Opens a session for "auto". `create(backend)` resolves to `{ session,
 * warmUpMs }` (the session's warm-up inference, timed); `timeRun(session)` to
 * the milliseconds of one more inference. A session has `setBackend`.
 * Resolves to `{ session, reason }`.
 * @param {{ gpu: any, userAgent: string, store: ChoiceStore,
 *   create: (backend: string) => Promise<{ session: any, warmUpMs: number }>,
 *   timeRun: (session: any) => Promise<number> }} how
 */
export async function openAuto({ gpu, userAgent, store, create, timeRun }) {
  const onCpu = async (reason) => ({ session: (await create("cpu")).session, reason });
  if (!gpu) return onCpu("navigator.gpu is missing");
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return onCpu("WebGPU offers no adapter");
  const { identity, cpuReason } = describeAdapter(adapter);
  const key = choiceKey(userAgent, identity);
  const known = store.get(key);
  if (known?.backend === "cpu") return onCpu(`${known.reason} (remembered for this browser and adapter)`);
  if (known) {
    try {
      return {
        session: (await create("webgpu")).session,
        reason: `${known.reason} (remembered for this browser and adapter)`,
      };
    } catch (e) {
      if (!isGpuFailure(e)) throw e;
      return onCpu(e.message);
    }
  }
  if (cpuReason) {
    store.set(key, { backend: "cpu", reason: cpuReason });
    return onCpu(cpuReason);
  }
  return measure(key, store, create, timeRun);
}

// The CPU's warm-up first, then WebGPU's on the same session (one model
// import, one GPU device); WebGPU gets a second run when it was slower, as its
// first run also pays one-off costs (pipelines, uploads) the CPU's has not.
async function measure(key, store, create, timeRun) {
  const { session, warmUpMs: cpuMs } = await create("cpu");
  let gpuMs;
  try {
    await session.setBackend("webgpu");
    gpuMs = await timeRun(session);
    if (gpuMs >= cpuMs) gpuMs = Math.min(gpuMs, await timeRun(session));
  } catch (e) {
    if (!isGpuFailure(e)) {
      session.free();
      throw e;
    }
    // setBackend keeps the CPU on failure; a run that failed after it did not.
    if (session.backend() !== "cpu") await session.setBackend("cpu");
    return { session, reason: e.message };
  }
  const gpuFaster = gpuMs < cpuMs;
  const times = `a warm-up inference took ${ms(gpuMs)} on WebGPU, ${ms(cpuMs)} on the CPU`;
  const choice = {
    backend: gpuFaster ? "webgpu" : "cpu",
    reason: `${gpuFaster ? "WebGPU" : "the CPU"} measured faster: ${times}`,
  };
  if (!gpuFaster) await session.setBackend("cpu");
  store.set(key, choice);
  return { session, reason: choice.reason };
}
