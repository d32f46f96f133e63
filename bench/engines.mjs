// Ours (SIMD128 build) vs ONNX Runtime Web's wasm backend, one thread each,
// in every browser engine here: Chromium (V8), Firefox (SpiderMonkey) and
// WebKit (JavaScriptCore). Same ONNX bytes, same seeded input, alternating
// runs after one warm-up each, on the page's thread (not a test).
//
//   node bench/engines.mjs            RUNS=5 by default; ENGINES=webkit,... picks engines
import { serve } from "../scripts/serve.mjs";
import { openPage } from "../testkit/chromium.mjs";
import { absent, openEngine } from "../testkit/engines.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const SHAPE = [1, 3, 224, 224];
const CASES = [
  ["ResNet-18 (random)", "resnet18.onnx"],
  ["EfficientNet-Lite0 (default)", "efficientnet_lite0.onnx"],
];
const engines = (process.env.ENGINES ?? "chromium,firefox,webkit").split(",");

// { version, bench(arg), close } for `engine`, on the benchmark page.
async function open(engine, url) {
  if (engine === "chromium") {
    const { page, context, close } = await openPage(url, { echo: false, webgpu: false });
    return {
      version: `Chromium ${context.browser()?.version() ?? ""}`.trim(),
      bench: (a) => page.evaluate((a) => window.bench(a), a),
      close,
    };
  }
  const page = await openEngine(engine, url, { server });
  while ((await page.read("ready")) !== true) await new Promise((tick) => setTimeout(tick, 100));
  return { version: page.version, bench: (a) => page.call("bench", a), close: page.close };
}

const { server, origin } = await serve();
console.log(`one thread, page's thread, median of ${RUNS} alternating runs after one warm-up each, input ${SHAPE}`);
const W = [28, 40, 11, 11, 9];
console.log(row(["model", "engine", "ours", "ORT wasm", "ours/ORT"], W));
for (const engine of engines) {
  const why = engine === "chromium" ? null : absent(engine);
  if (why) {
    console.log(`${engine}: ${why}, skipped`);
    continue;
  }
  const page = await open(engine, `${origin}/bench/engines.html`);
  try {
    for (const [label, file] of CASES) {
      const t = await page.bench({ model: `/.cache/models/${file}`, shape: SHAPE, runs: RUNS, seed: 7 });
      const [ours, ort] = [median(t.ours), median(t.ort)];
      console.log(row([label, page.version, fmtMs(ours), fmtMs(ort), (ours / ort).toFixed(2)], W));
    }
  } finally {
    await page.close();
  }
}
server.close();
