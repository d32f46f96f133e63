// Benchmark page: both engines on the same origin, same model bytes and the
// same seeded input. Sessions are kept in `live` between calls so the driver
// can alternate engines run by run.
import init, { ModelStream, Session } from "/pkg/webresnet.js";
import * as ort from "/node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs";
import { seededInput } from "/testkit/seeded.mjs";
import { median } from "/bench/common.mjs";

// Our wasm is fetched, compiled and instantiated here, before any clock
// below starts; ORT's happens inside its first session. Its time is kept
// so the driver can charge it to our first result.
const tInit = performance.now();
await init({ module_or_path: "/pkg/webresnet_bg.wasm" });
window.initMs = performance.now() - tInit;
// ORT fetches its own wasm next to the module; serve it from node_modules.
ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";
ort.env.wasm.numThreads = 1;

const live = new Map();
const inputs = new Map();

function inputFor(shape) {
  const key = shape.join("x");
  if (!inputs.has(key))
    inputs.set(
      key,
      seededInput(
        shape.reduce((a, b) => a * b, 1),
        11,
      ),
    );
  return inputs.get(key);
}

async function fetchModel(url) {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

// Time to first result: create (compile, upload, pipelines) + first inference,
// each timed too. The model bytes are fetched before the clock starts, for both engines.
window.first = async (engine, url, shape) => {
  try {
    const bytes = await fetchModel(url);
    const input = inputFor(shape);
    const t0 = performance.now();
    let run;
    if (engine === "ours") {
      const s = await Session.create(bytes, "webgpu", shape);
      run = () => s.infer(input, shape);
      live.set(`${engine} ${url}`, { run, free: () => s.free(), info: s.adapterInfo() });
    } else {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
      const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", input, shape) };
      // Read the output back to the CPU, as ours does, so both include the readback.
      run = async () => {
        const out = await s.run(feeds);
        return out[s.outputNames[0]].getData();
      };
      live.set(`${engine} ${url}`, { run, free: () => s.release(), info: "" });
    }
    const t1 = performance.now();
    const out = await run();
    const ms = performance.now() - t0;
    return { ms, createMs: t1 - t0, inferMs: ms - (t1 - t0), top1: argmax(out) };
  } catch (e) {
    return { error: `${e?.code ?? ""} ${e?.message ?? e}` };
  }
};

// Bytes as a network of `bytesPerSecond` delivers them, from memory: each
// chunk goes to `onChunk` once the time it takes to arrive has passed.
async function paced(bytes, bytesPerSecond, onChunk) {
  const chunk = 64 << 10;
  const t0 = performance.now();
  for (let at = 0; at < bytes.length; at += chunk) {
    const end = Math.min(at + chunk, bytes.length);
    const wait = t0 + (end / bytesPerSecond) * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    onChunk(bytes.subarray(at, end));
  }
}

// Time to first result with the download inside the clock, at
// `bytesPerSecond`: ours reads a .wrn as it arrives (a ModelStream, as the
// package does), compiling its pipelines from the header meanwhile; ORT
// creates its session once its file is in. `phases` splits ours by the
// wasm's performance marks (ms from the clock's start).
window.firstDownloaded = async (engine, url, shape, bytesPerSecond) => {
  try {
    const bytes = await fetchModel(url);
    const input = inputFor(shape);
    performance.clearMarks();
    const t0 = performance.now();
    const stream = engine === "ours" ? new ModelStream(bytes.length, true, shape) : null;
    await paced(bytes, bytesPerSecond, (c) => stream?.push(c));
    const downloadMs = performance.now() - t0;
    let top1;
    let stats = null;
    if (engine === "ours") {
      const s = await Session.create(bytes, "webgpu", shape, stream);
      stats = s.loadStats();
      top1 = argmax(await s.infer(input, shape));
      s.free();
    } else {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu"] });
      const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", input, shape) };
      // Read back (as ours is) before the session is released.
      top1 = argmax(await (await s.run(feeds))[s.outputNames[0]].getData());
      await s.release();
    }
    const ms = performance.now() - t0;
    const phases = Object.fromEntries(
      performance
        .getEntriesByType("mark")
        .filter((m) => m.name.startsWith("webresnet:"))
        .map((m) => [m.name.slice("webresnet:".length), Math.round(m.startTime - t0)]),
    );
    return { ms, downloadMs, top1, stats, phases };
  } catch (e) {
    return { error: `${e?.code ?? ""} ${e?.message ?? e}` };
  }
};

// Import and planning alone: a CPU session (parse, fold, fuse, plan, pack
// weights for the CPU kernels), for the first-result breakdown.
window.planOnly = async (url, shape) => {
  const bytes = await fetchModel(url);
  const t0 = performance.now();
  const s = await Session.create(bytes, "cpu", shape);
  const ms = performance.now() - t0;
  s.free();
  return ms;
};

window.again = async (engine, url) => {
  const s = live.get(`${engine} ${url}`);
  const t0 = performance.now();
  const out = await s.run();
  return { ms: performance.now() - t0, top1: argmax(out) };
};

window.release = async (engine, url) => {
  const key = `${engine} ${url}`;
  const s = live.get(key);
  live.delete(key);
  await s?.free();
};

// Our dispatches' GPU times from timestamp queries: `runs` profiled runs,
// each dispatch's median; or the error (code LIMIT where the adapter has no
// `timestamp-query`).
window.profile = async (url, shape, runs) => {
  try {
    const s = await Session.create(await fetchModel(url), "webgpu", shape);
    let p;
    try {
      p = await s.profileGpu(inputFor(shape), runs);
    } finally {
      s.free();
    }
    const dispatches = p.dispatches.map((d, i) => ({ ...d, ms: median(p.runs.map((r) => r.ms[i])) }));
    return { adapter: p.adapter, dispatches, spanMs: median(p.runs.map((r) => r.spanMs)) };
  } catch (e) {
    return { error: `${e?.code ?? ""} ${e?.message ?? e}` };
  }
};

window.adapterInfo = async () => {
  const a = await navigator.gpu?.requestAdapter();
  return a ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}`.trim() : null;
};

function argmax(xs) {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

window.ready = true;
