// Page side of bench/int8.mjs: our relaxed-SIMD build on the int8 model file
// and on the f32 model against ONNX Runtime Web's wasm backend on its QDQ
// model and on the f32 model, one thread each, timed in alternation on the
// page's thread.
import init, { int8FusedDot, Session } from "/pkg/webresnet.js";
import * as ort from "/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { seededInput } from "/testkit/seeded.mjs";
import { alternate } from "/bench/common.mjs";

await init({ module_or_path: "/pkg/webresnet_relaxed_bg.wasm" });
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";

const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());

// Resolves to each engine's run times in ms, after one warm-up each.
window.bench = async ({ ours, qdq, f32, shape, runs, seed }) => {
  const input = seededInput(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  const session = await Session.create(await bytes(ours), "cpu", shape);
  const float = await Session.create(await bytes(f32), "cpu", shape);
  const engines = {
    "ours relaxed int8": () => session.infer(input, shape),
    "ours relaxed f32": () => float.infer(input, shape),
  };
  const theirs = [];
  for (const [name, url] of [
    ["ORT QDQ", qdq],
    ["ORT f32", f32],
  ]) {
    const s = await ort.InferenceSession.create(await bytes(url), { executionProviders: ["wasm"] });
    const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", input, shape) };
    engines[name] = () => s.run(feeds);
    theirs.push(s);
  }
  try {
    return { fused: int8FusedDot(), times: await alternate(engines, runs) };
  } finally {
    session.free();
    float.free();
    for (const s of theirs) await s.release();
  }
};

window.ready = true;
