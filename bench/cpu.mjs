// make bench-cpu: our wasm CPU path against ONNX Runtime Web's wasm backend
// (one thread) in Node 20, on the same ONNX files and the same seeded input.
// Runs alternate ours/theirs so machine load hits both alike. Not a test.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { MODELS, ROOT, seededInput } from "../tests/node/common.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const CASES = [
  ["resnet18.onnx", [1, 3, 224, 224]],
  ["resnet50.onnx", [1, 3, 224, 224]],
  ["mobilenet_small.onnx", [1, 3, 224, 224]],
];

const { initSync, Session } = await import(join(ROOT, "pkg", "webresnet.js"));
initSync({ module: readFileSync(join(ROOT, "pkg", "webresnet_bg.wasm")) });
// One thread on both sides: ours is single-threaded in Node.
ort.env.wasm.numThreads = 1;

const W = [22, 12, 12, 10];
console.log(`wasm CPU, Node ${process.version}, median of ${RUNS} alternating runs after one warm-up each`);
console.log(row(["model", "ours", "ORT wasm", "ours/ORT"], W));
for (const [name, shape] of CASES) {
  const path = join(MODELS, name);
  if (!existsSync(path)) continue;
  const bytes = readFileSync(path);
  const input = seededInput(shape.reduce((a, b) => a * b, 1), 7);

  const ours = await Session.create(bytes, "cpu", shape);
  const theirs = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const feeds = { [theirs.inputNames[0]]: new ort.Tensor("float32", input, shape) };

  const runOurs = async () => {
    const t = performance.now();
    await ours.infer(input, shape);
    return performance.now() - t;
  };
  const runTheirs = async () => {
    const t = performance.now();
    await theirs.run(feeds);
    return performance.now() - t;
  };
  await runOurs();
  await runTheirs();
  const a = [];
  const b = [];
  for (let i = 0; i < RUNS; i++) {
    a.push(await runOurs());
    b.push(await runTheirs());
  }
  const [ma, mb] = [median(a), median(b)];
  console.log(row([name, fmtMs(ma), fmtMs(mb), (ma / mb).toFixed(2)], W));
  ours.free();
  await theirs.release();
}
