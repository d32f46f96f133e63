// make bench-load: time to load a model in headless Chromium on the CPU
// backend, the project's .wrn against the .onnx of the same weights. Prints
// the median of RUNS runs (alternating) of Classifier.create, split into
// fetch, compile (import + plan + backend) and the warm-up inference, then the
// compile's phases from the wasm's performance marks (src/web.rs): each mark's
// time since the one before; "verified" is the wait for the model file's hash. Not a test.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../tests/node/common.mjs";
import { serve } from "../scripts/serve.mjs";
import { openPage } from "../tests/browser/chromium.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const PAIRS = [
  ["opennsfw (ResNet-50)", "/.cache/models/opennsfw.wrn", "/.cache/models/opennsfw.onnx"],
  ["EfficientNet-Lite0", "/.cache/models/default.wrn", "/.cache/models/efficientnet_lite0.onnx"],
  ["EfficientNet-Lite0, shipped f16", "/pkg/model/default.wrn", null],
];

const { server, origin } = await serve();
const { page, close } = await openPage(`${origin}/bench/load.html`, { echo: false });
const loadOnce = (model) => page.evaluate((m) => window.loadOnce(m), model);
const WIDTHS = [34, 6, 8, 10, 10, 10, 10];
try {
  // The wasm compiles once per page: pay it before timing anything.
  await loadOnce("/.cache/models/mobilenet_small.onnx");
  console.log(`Classifier.create on the CPU backend, median of ${RUNS} runs (fetch from localhost, no cache)`);
  console.log(row(["model", "file", "MB", "fetch", "compile", "warm-up", "total"], WIDTHS));
  for (const [name, ...files] of PAIRS) {
    const present = files.filter((f) => f && existsSync(join(ROOT, f)));
    const runs = Object.fromEntries(present.map((f) => [f, []]));
    for (let i = 0; i < RUNS; i++) for (const f of i % 2 ? [...present].reverse() : present) runs[f].push(await loadOnce(f));
    for (const f of present) {
      const m = (k) => fmtMs(median(runs[f].map((r) => r[k])));
      const mb = (statSync(join(ROOT, f)).size / 1e6).toFixed(1);
      console.log(row([name, f.split(".").pop(), mb, m("fetchMs"), m("compileMs"), m("warmupMs"), m("totalMs")], WIDTHS));
      const phases = Object.keys(runs[f][0].phases);
      console.log(`  compile: ${phases.map((k) => `${k} ${median(runs[f].map((r) => r.phases[k])).toFixed(1)}`).join(", ")}`);
    }
  }
} finally {
  await close();
  server.close();
}
