// make bench-gpu: our WebGPU path against ONNX Runtime Web's WebGPU backend,
// in headless Chromium (SwiftShader here), on the same ONNX files. Engines
// alternate within one browser run. Prints time to first result (create +
// first inference), steady-state median, and ours/theirs; then our
// dispatches' GPU times from timestamp queries, where the adapter has
// them, against our steady round trip. Not a test.
// Our first result on the first model includes our wasm init, as ORT's
// includes its own (both engines load their wasm once per page).
// Then ResNet-18 once more with the download inside the clock, at
// DOWNLOAD_MBITS (default 100 Mbit/s, as bench-load): ours from its .wrn read
// as it arrives (pipelines compiled from the header meanwhile), ORT from the
// ONNX file once it is in.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CLI, MODELS } from "../testkit/common.mjs";
import { serve } from "../scripts/serve.mjs";
import { openPage } from "../testkit/chromium.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 3);
const DOWNLOAD_MBITS = Number(process.env.DOWNLOAD_MBITS ?? 100);
const PROFILE_RUNS = Number(process.env.PROFILE_RUNS ?? 3);
const cases = [
  ["resnet18.onnx", [1, 3, 224, 224]],
  ["mobilenet_small.onnx", [1, 3, 224, 224]],
];
// The default ImageNet model, when setup has produced one.
for (const f of existsSync(MODELS) ? readdirSync(MODELS) : []) {
  if (f.startsWith("default") && f.endsWith(".onnx")) cases.push([f, [1, 3, 224, 224]]);
}
if (process.env.MODELS_ONLY) {
  const only = process.env.MODELS_ONLY.split(",");
  cases.splice(0, cases.length, ...cases.filter(([f]) => only.includes(f)));
}

const { server, origin } = await serve();
let { page, close } = await openPage(`${origin}/bench/gpu.html`);
const call = (fn, ...args) => page.evaluate(([f, a]) => window[f](...a), [fn, args]);

try {
  console.log(`adapter: ${await call("adapterInfo")}; steady state = median of ${RUNS} alternating runs`);
  let initMs = await page.evaluate(() => window.initMs);
  console.log(`  our wasm fetch + compile + instantiate: ${fmtMs(initMs)}`);
  const W = [22, 14, 12, 12, 10];
  const results = [];
  for (const [file, shape] of cases) {
    const url = `/.cache/models/${file}`;
    // Ours first on one model, theirs first on the next: neither always
    // gets the cold (or the warm) browser.
    const order = results.length % 2 ? ["theirs", "ours"] : ["ours", "theirs"];
    const firsts = {};
    const top1 = {};
    for (const e of order) {
      const r = await call("first", e, url, shape);
      if (r.error) throw new Error(`${e} ${file}: ${r.error}`);
      const init = e === "ours" ? initMs : 0;
      firsts[e] = r.ms + init;
      top1[e] = r.top1;
      console.log(
        `  ${file}: ${e} first result ${fmtMs(firsts[e])} = ` +
          (init ? `wasm init ${fmtMs(init)} + ` : "") +
          `create ${fmtMs(r.createMs)} + first inference ${fmtMs(r.inferMs)} (top-1 ${r.top1})`,
      );
    }
    initMs = 0;
    console.log(`  ${file}: ours, import + plan alone (a CPU session): ${fmtMs(await call("planOnly", url, shape))}`);
    const steady = { ours: [], theirs: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const e of order) steady[e].push((await call("again", e, url)).ms);
    }
    for (const e of order) await call("release", e, url);
    results.push({ file, firsts, steady, top1 });
    console.log(
      `  ${file}: steady ours ${steady.ours.map(fmtMs).join(", ")}; theirs ${steady.theirs.map(fmtMs).join(", ")}`,
    );
  }
  console.log(row(["model", "metric", "ours", "ORT webgpu", "ours/ORT"], W));
  for (const r of results) {
    const so = median(r.steady.ours);
    const st = median(r.steady.theirs);
    console.log(
      row(
        [
          r.file,
          "first result",
          fmtMs(r.firsts.ours),
          fmtMs(r.firsts.theirs),
          (r.firsts.ours / r.firsts.theirs).toFixed(2),
        ],
        W,
      ),
    );
    console.log(row(["", "steady median", fmtMs(so), fmtMs(st), (so / st).toFixed(2)], W));
    if (r.top1.ours !== r.top1.theirs) console.log(`  note: top-1 differs (ours ${r.top1.ours}, ORT ${r.top1.theirs})`);
  }
  for (const r of results) await printProfile(r.file, cases.find(([f]) => f === r.file)[1], median(r.steady.ours));
  if (cases.some(([f]) => f === "resnet18.onnx")) await downloaded();
} finally {
  await close();
  server.close();
}

// ResNet-18's first result with a download at DOWNLOAD_MBITS inside the clock,
// in a fresh browser: neither engine finds the pipelines of the runs above
// in a cache (ORT keeps its per page; Chromium's GPU process may keep ours).
async function downloaded() {
  await close();
  ({ page, close } = await openPage(`${origin}/bench/gpu.html`));
  const wrn = join(MODELS, "resnet18.wrn");
  if (!existsSync(wrn)) execFileSync(CLI, ["convert", join(MODELS, "resnet18.onnx"), wrn], { stdio: "ignore" });
  const rate = (DOWNLOAD_MBITS * 1e6) / 8;
  const shape = [1, 3, 224, 224];
  const urls = { ours: "/.cache/models/resnet18.wrn", theirs: "/.cache/models/resnet18.onnx" };
  const ms = {};
  for (const e of ["theirs", "ours"]) {
    const r = await call("firstDownloaded", e, urls[e], shape, rate);
    if (r.error) throw new Error(`${e} downloaded: ${r.error}`);
    ms[e] = r.ms;
    const extra =
      e === "ours"
        ? `; pipelines compiled ahead ${r.stats.pipelinesCompiledAhead} (ready at byte ${r.stats.pipelinesReadyAtByte} of ` +
          `${r.stats.modelBytes}), at build ${r.stats.pipelinesCompiledAtBuild}; marks (ms) ${JSON.stringify(r.phases)}`
        : "";
    console.log(
      `  resnet18 at ${DOWNLOAD_MBITS} Mbit/s: ${e} first result ${fmtMs(r.ms)} (download ${fmtMs(r.downloadMs)}, ` +
        `top-1 ${r.top1})${extra}`,
    );
  }
  console.log(`  resnet18 at ${DOWNLOAD_MBITS} Mbit/s: first result ours/ORT ${(ms.ours / ms.theirs).toFixed(2)}`);
}

// One line per dispatch (as `webresnet inspect --dispatches` names them)
// with its median GPU time and share, sums by kind and by stage, and the
// GPU time against `roundTripMs`, our steady median.
async function printProfile(file, shape, roundTripMs) {
  const p = await call("profile", `/.cache/models/${file}`, shape, PROFILE_RUNS);
  if (p.error) {
    console.log(`${file}: per-dispatch GPU times unavailable: ${p.error}`);
    return;
  }
  const gpu = p.dispatches.reduce((a, d) => a + d.ms, 0);
  const pct = (ms) => `${((100 * ms) / gpu).toFixed(1)}%`;
  console.log(
    `${file}: GPU time per dispatch (timestamp queries, median of ${PROFILE_RUNS} runs): ` +
      `${fmtMs(gpu)} in all, span ${fmtMs(p.spanMs)}; steady round trip ${fmtMs(roundTripMs)} ` +
      `(the dispatches are ${((100 * gpu) / roundTripMs).toFixed(0)}% of it)`,
  );
  p.dispatches.forEach((d, i) => {
    const tile = d.tile ? `${d.tile}x${d.tile}` : "-";
    console.log(
      `  ${i} step=${d.step} stage=${d.stage} kind=${d.kind} workgroups=${d.workgroups} k=${d.k} tile=${tile} ` +
        `splits=${d.splits}: ${d.ms.toFixed(3)} ms (${pct(d.ms)})`,
    );
  });
  for (const key of ["kind", "stage"]) {
    const sums = new Map();
    for (const d of p.dispatches) sums.set(d[key], (sums.get(d[key]) ?? 0) + d.ms);
    console.log(`  by ${key}: ${[...sums].map(([k, ms]) => `${k} ${fmtMs(ms)} (${pct(ms)})`).join(", ")}`);
  }
}
