// make bench-load: time to load a model in headless Chromium on the CPU
// backend, the project's .wrn against the .onnx of the same weights: the
// median of RUNS runs (alternating) of Classifier.create, each the first load
// in a fresh page (a user's first visit: the wasm's loading code is cold),
// split into fetch, compile (import + plan + backend) and the warm-up
// inference, then the compile's phases from the wasm's performance marks
// (src/web/): each mark's time since the one before; "verified" is the wait
// for the model file's hash. Then the same over a network of NETWORK's speed
// (the server paces its responses: work done while the bytes arrive is
// hidden there), and from the Cache API (a repeat visit). No DevTools network
// agent runs (see bare_chromium.mjs). Not a test.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../testkit/common.mjs";
import { serve } from "../scripts/serve.mjs";
import { launchBareChromium } from "./bare_chromium.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
// Files of the same weights, timed in alternation: [name, [file, what]...].
const GROUPS = [
  ["opennsfw (ResNet-50)", ["/.cache/models/opennsfw.wrn", "wrn"], ["/.cache/models/opennsfw.onnx", "onnx"]],
  [
    "EfficientNet-Lite0",
    ["/.cache/models/default.wrn", "wrn"],
    ["/.cache/models/efficientnet_lite0.onnx", "onnx"],
    ["/pkg/model/default.wrn", "wrn f16 (shipped)"],
  ],
];

// A network speed to time the loads at as well (bytes per second): 100 Mbit/s.
const NETWORK = { name: "100 Mbit/s", bytesPerSecond: 100e6 / 8 };

const { server, origin } = await serve();
const paced = await serve({ bytesPerSecond: NETWORK.bytesPerSecond });
const browser = await launchBareChromium();

// One load in a fresh page, from `from` (an origin).
async function loadOnce(model, cache, from = origin) {
  const page = await browser.open(`${from}/bench/load.html`);
  try {
    return await page.evaluate(`window.loadOnce(${JSON.stringify(model)}, ${cache})`);
  } finally {
    await page.close();
  }
}
const WIDTHS = [22, 18, 6, 10, 10, 10, 10];

async function table(cache, network = null) {
  const from = network ? paced.origin : origin;
  const source = cache
    ? "from the Cache API, as on a repeat visit"
    : `fetched from localhost${network ? ` at ${network.name}` : ""}, no cache`;
  console.log(`\nClassifier.create on the CPU backend, ${source}, median of ${RUNS} runs`);
  console.log(row(["model", "file", "MB", cache ? "read" : "fetch", "compile", "warm-up", "total"], WIDTHS));
  for (const [name, ...files] of GROUPS) {
    const present = files.filter(([f]) => existsSync(join(ROOT, f)));
    if (cache) for (const [f] of present) await loadOnce(f, true, from); // stores it (pages share the profile)
    const runs = new Map(present.map(([f]) => [f, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const [f] of i % 2 ? [...present].reverse() : present) runs.get(f).push(await loadOnce(f, cache, from));
    }
    for (const [f, what] of present) {
      const m = (k) => fmtMs(median(runs.get(f).map((r) => r[k])));
      const mb = (statSync(join(ROOT, f)).size / 1e6).toFixed(1);
      console.log(row([name, what, mb, m("fetchMs"), m("compileMs"), m("warmupMs"), m("totalMs")], WIDTHS));
      const phases = Object.keys(runs.get(f)[0].phases);
      const phase = (k) => `${k} ${median(runs.get(f).map((r) => r.phases[k])).toFixed(1)}`;
      console.log(`  compile: ${phases.map(phase).join(", ")}`);
    }
  }
}

try {
  await table(false);
  await table(false, NETWORK);
  await table(true);
} finally {
  await browser.close();
  server.close();
  paced.server.close();
}
