// make bench-cpu: our wasm CPU path (the SIMD128 build, and the relaxed-SIMD
// build where the runtime has it) against ONNX Runtime Web's wasm backend (one
// thread) in Node 20, on the same ONNX files and the same seeded input. Runs
// alternate so machine load hits all alike. Not a test.
//
// Times are per-process CPU time (process.cpuUsage), which other processes on
// a shared machine don't inflate the way they do wall time; wall medians are
// printed too. GFLOP/s = 2 * MACs (from the CLI's plan) / our CPU time, as a
// fraction of bench/peak.mjs's SIMD peak measured in this run.
// BENCH_MODELS=resnet18,resnet50 runs only the models whose file names
// start with one of those. Our wasm heap after create is printed per build.
// A run of every model writes .cache/bench/cpu.json for bench/plot_cpu.mjs.
//
// With ResNet-50 it then times the int8 path: our `convert --int8` file of it
// against ORT Web on ORT's `quantize_static` QDQ model of the same network
// and on the f32 model, all alternating; ratios are to each of ORT's.
// Both int8 files are made once into .cache/bench/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { CLI, MODELS, ROOT, seededInput } from "../testkit/common.mjs";
import { fmtMs, median, row } from "./common.mjs";
import { cpuMs, measurePeak } from "./peak.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const SHAPE = [1, 3, 224, 224];
const ONLY = process.env.BENCH_MODELS?.split(",");
const CASES = [
  ["ResNet-18 (random)", "resnet18.onnx"],
  ["ResNet-50 (random)", "resnet50.onnx"],
  ["EfficientNet-Lite0 (default)", "efficientnet_lite0.onnx"],
].filter(([, file]) => !ONLY || ONLY.some((m) => file.startsWith(m)));

/// One instance of the wasm-bindgen glue per binary: a query string makes
/// Node load the module afresh.
async function load(wasm, tag) {
  const path = join(ROOT, "pkg", wasm);
  if (!existsSync(path)) return null;
  const glue = await import(`${join(ROOT, "pkg", "webresnet.js")}?${tag}`);
  try {
    const { memory } = glue.initSync({ module: readFileSync(path) });
    return { Session: glue.Session, memory };
  } catch (e) {
    if (e instanceof WebAssembly.CompileError) return null; // no relaxed SIMD here
    throw e;
  }
}

const variants = [
  ["ours SIMD128", await load("webresnet_bg.wasm", "simd")],
  ["ours relaxed", await load("webresnet_relaxed_bg.wasm", "relaxed")],
].filter(([, s]) => s);
ort.env.wasm.numThreads = 1;

const macs = (path) => {
  const out = execFileSync(CLI, ["inspect", path, "--input-shape", SHAPE.join(",")]).toString();
  return Number(/^MACs:\s+(\d+)/m.exec(out)[1]);
};

/// [cpu ms, wall ms] of one call.
async function timed(f) {
  const [c, w] = [cpuMs(), performance.now()];
  await f();
  return [cpuMs() - c, performance.now() - w];
}

const peak = { simd: measurePeak(), relaxed: measurePeak({ relaxed: true }) };
console.log(
  `wasm CPU, Node ${process.version}, one thread, median of ${RUNS} alternating runs after one warm-up each; ` +
    `SIMD peak ${peak.simd.toFixed(1)} GFLOP/s` +
    (peak.relaxed ? `, relaxed-SIMD madd peak ${peak.relaxed.toFixed(1)} GFLOP/s` : ""),
);
const W = [30, 14, 11, 11, 10, 10, 9, 9];
console.log(row(["model", "engine", "cpu", "wall", "cpu/ORT", "wall/ORT", "GFLOP/s", "of peak"], W));
const results = [];
for (const [label, file] of CASES) {
  const path = join(MODELS, file);
  if (!existsSync(path)) {
    console.log(`${label}: ${path} missing (make setup), skipped`);
    continue;
  }
  const bytes = readFileSync(path);
  const input = seededInput(
    SHAPE.reduce((a, b) => a * b, 1),
    7,
  );
  const flop = 2 * macs(path);
  const engines = [];
  const heap = [];
  for (const [name, { Session, memory }] of variants) {
    const s = await Session.create(bytes, "cpu", SHAPE);
    heap.push(`${name} ${(memory.buffer.byteLength / 2 ** 20).toFixed(1)} MiB`);
    engines.push({ name, run: () => s.infer(input, SHAPE), free: () => s.free() });
  }
  console.log(`${label}: wasm heap after create: ${heap.join(", ")}`);
  const theirs = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  const feeds = { [theirs.inputNames[0]]: new ort.Tensor("float32", input, SHAPE) };
  engines.push({ name: "ORT wasm", run: () => theirs.run(feeds), free: () => theirs.release() });

  for (const e of engines) await e.run();
  const times = engines.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [j, e] of engines.entries()) times[j].push(await timed(e.run));
  }
  const med = times.map((t) => [median(t.map((x) => x[0])), median(t.map((x) => x[1]))]);
  const ortT = med[med.length - 1];
  for (const [j, e] of engines.entries()) {
    const [cpu, wall] = med[j];
    const ours = e.name !== "ORT wasm";
    const gflops = flop / cpu / 1e6;
    const pk = e.name === "ours relaxed" ? peak.relaxed : peak.simd;
    console.log(
      row(
        [
          j ? "" : label,
          e.name,
          fmtMs(cpu),
          fmtMs(wall),
          ours ? (cpu / ortT[0]).toFixed(2) : "",
          ours ? (wall / ortT[1]).toFixed(2) : "",
          gflops.toFixed(1),
          `${((100 * gflops) / pk).toFixed(0)}%`,
        ],
        W,
      ),
    );
    results.push({ model: label, engine: e.name, cpu_ms: cpu, wall_ms: wall, gflops, peak_gflops: pk });
    await e.free();
  }
}
if (CASES.some(([, file]) => file === "resnet50.onnx")) await int8Row(join(MODELS, "resnet50.onnx"));

/// Our int8 ResNet-50 on each build against ORT's QDQ and f32 models.
async function int8Row(f32Path) {
  const dir = join(ROOT, ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  const [ours, qdq] = [join(dir, "resnet50-int8.wrn"), join(dir, "resnet50-qdq.onnx")];
  if (!existsSync(ours)) execFileSync(CLI, ["convert", f32Path, ours, "--int8"]);
  if (!existsSync(qdq)) {
    const python = join(ROOT, ".cache", "venv", "bin", "python");
    execFileSync(python, [join(ROOT, "bench", "qdq_model.py"), f32Path, qdq], { stdio: "ignore" });
  }
  const input = seededInput(
    SHAPE.reduce((a, b) => a * b, 1),
    7,
  );
  const engines = [];
  for (const [name, { Session }] of variants) {
    const s = await Session.create(readFileSync(ours), "cpu", SHAPE);
    engines.push({ name: `${name} int8`, run: () => s.infer(input, SHAPE), free: () => s.free() });
  }
  for (const [name, path] of [
    ["ORT QDQ", qdq],
    ["ORT f32", f32Path],
  ]) {
    const s = await ort.InferenceSession.create(readFileSync(path), { executionProviders: ["wasm"] });
    const feeds = { [s.inputNames[0]]: new ort.Tensor("float32", input, SHAPE) };
    engines.push({ name, run: () => s.run(feeds), free: () => s.release() });
  }
  for (const e of engines) await e.run();
  const times = engines.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [j, e] of engines.entries()) times[j].push((await timed(e.run))[0]);
  }
  const cpu = times.map(median);
  const [qdqT, f32T] = cpu.slice(-2);
  console.log(row(["model", "engine", "cpu", "cpu/QDQ", "cpu/f32"], W));
  for (const [j, e] of engines.entries()) {
    const r = (t) => (cpu[j] / t).toFixed(2);
    console.log(row([j ? "" : "ResNet-50 int8 (random)", e.name, fmtMs(cpu[j]), r(qdqT), r(f32T)], W));
    await e.free();
  }
}

// A partial run would replace the plot's other models.
if (!ONLY) {
  const dir = join(ROOT, ".cache", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cpu.json"), JSON.stringify({ node: process.version, runs: RUNS, peak, results }, null, 2));
  console.log(`wrote ${join(dir, "cpu.json")} (plot: node bench/plot_cpu.mjs)`);
}
