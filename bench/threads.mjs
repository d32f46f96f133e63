// make bench-cpu, second part: the CPU threads' speed-up in headless
// Chromium, cross-origin isolated (scripts/serve.mjs sends COOP/COEP). The
// threaded build with a pool of 1 and of 2, and the single-threaded SIMD128
// build for reference, each in its own worker, in alternation; medians of
// wall time, as the page sees it (a browser has no per-thread CPU clock).
// Writes .cache/bench/threads.json. Not a test.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../testkit/common.mjs";
import { serve } from "../scripts/serve.mjs";
import { openPage } from "../testkit/chromium.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 7);
const SHAPE = [1, 3, 224, 224];
const CASES = [
  ["ResNet-50 (random)", "resnet50.onnx"],
  ["ResNet-18 (random)", "resnet18.onnx"],
];
const VARIANTS = [
  { name: "SIMD128, 1 thread", build: "plain" },
  { name: "threads build, 1", build: "threads", threads: 1 },
  { name: "threads build, 2", build: "threads", threads: 2 },
];

if (!existsSync(join(ROOT, "pkg", "threads", "webresnet_bg.wasm"))) {
  console.log("pkg/threads/ missing (scripts/build_wasm.sh builds it): no threads benchmark");
  process.exit(1);
}
const { server, origin } = await serve();
const { page, close } = await openPage(`${origin}/bench/threads.html`, { echo: false, webgpu: false });
const results = [];
try {
  const W = [20, 20, 10, 10];
  let header = false;
  for (const [label, file] of CASES) {
    const r = await page.evaluate((c) => window.bench(c), {
      model: `/.cache/models/${file}`,
      shape: SHAPE,
      runs: RUNS,
      variants: VARIANTS.map(({ build, threads }) => ({ build, threads })),
    });
    if (!header) {
      console.log(
        `CPU threads, headless Chromium, cross-origin isolated ${r.isolated}, hardwareConcurrency ${r.cores}; ` +
          `median wall time of ${RUNS} alternating runs after one warm-up each`,
      );
      console.log(row(["model", "build", "median", "speed-up"], W));
      header = true;
    }
    const med = r.times.map(median);
    const [, one, two] = med;
    VARIANTS.forEach((v, j) => {
      const speedup = v.threads === 2 ? `${(one / two).toFixed(2)}x` : "";
      console.log(row([j ? "" : label, v.name, fmtMs(med[j]), speedup], W));
      results.push({ model: label, variant: v.name, median_ms: med[j], times_ms: r.times[j] });
    });
    console.log(
      row(["", "", "", ""], W) +
        `2 threads vs 1 of the threaded build: ${(one / two).toFixed(2)}x; vs the SIMD128 build: ${(med[0] / two).toFixed(2)}x`,
    );
  }
} finally {
  await close();
  server.close();
}
const dir = join(ROOT, ".cache", "bench");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "threads.json"), JSON.stringify({ runs: RUNS, results }, null, 2));
console.log(`wrote ${join(dir, "threads.json")}`);
