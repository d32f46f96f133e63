// Page side of bench/engines.mjs: our SIMD128 build and ONNX Runtime Web's
// wasm backend, one thread each, on the same ONNX bytes and input, timed in
// alternation on the page's thread.
import init, { Session } from "/pkg/webresnet.js";
import * as ort from "/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { seededInput } from "/testkit/seeded.mjs";
import { alternate } from "/bench/common.mjs";

await init({ module_or_path: "/pkg/webresnet_bg.wasm" });
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";

// Resolves to { ours, ort }: each run's wall time in ms, after one warm-up each.
window.bench = async ({ model, shape, runs, seed }) => {
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const input = seededInput(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  const ours = await Session.create(bytes, "cpu", shape);
  const theirs = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const feeds = { [theirs.inputNames[0]]: new ort.Tensor("float32", input, shape) };
  const engines = { ours: () => ours.infer(input, shape), ort: () => theirs.run(feeds) };
  try {
    return await alternate(engines, runs);
  } finally {
    ours.free();
    await theirs.release();
  }
};

window.ready = true;
