// make bench-cpu's Chromium rows: our relaxed-SIMD build on the int8
// ResNet-50 file and on the f32 model against ONNX Runtime Web (wasm, one
// thread) on ORT's `quantize_static` QDQ model and on the f32 model,
// alternating runs on the page's thread; wall-time medians and their ratios.
// bench/cpu.mjs makes the two int8 files in .cache/bench/ first. Not a test.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { serve, TEST_MOUNTS } from "../scripts/serve.mjs";
import { openPage } from "../testkit/chromium.mjs";
import { ROOT } from "../testkit/common.mjs";
import { fmtMs, median, row } from "./common.mjs";

const RUNS = Number(process.env.RUNS ?? 5);
const files = { ours: "resnet50-int8.wrn", qdq: "resnet50-qdq.onnx" };
for (const f of Object.values(files)) {
  if (!existsSync(join(ROOT, ".cache", "bench", f)))
    throw new Error(`.cache/bench/${f} missing: run bench/cpu.mjs first`);
}
const { server, origin } = await serve({ mounts: { ...TEST_MOUNTS, "/.cache/bench/": ".cache/bench" } });
const { page, context, close } = await openPage(`${origin}/bench/int8.html`, { echo: false, webgpu: false });
try {
  const { fused, times: t } = await page.evaluate((a) => window.bench(a), {
    ours: `/.cache/bench/${files.ours}`,
    qdq: `/.cache/bench/${files.qdq}`,
    f32: "/.cache/models/resnet50.onnx",
    shape: [1, 3, 224, 224],
    runs: RUNS,
    seed: 7,
  });
  const med = Object.fromEntries(Object.entries(t).map(([n, ts]) => [n, median(ts)]));
  console.log(
    `Chromium ${context.browser()?.version() ?? ""}, one thread, median of ${RUNS} alternating runs; ` +
      `our int8 sums on the ${fused ? "fused dot-add" : "widened pair sums"} (the engine probe's pick)`,
  );
  const W = [26, 18, 11, 9, 9];
  console.log(row(["model", "engine", "wall", "/QDQ", "/f32"], W));
  for (const [j, [name, ms]] of Object.entries(med).entries()) {
    const r = (d) => (ms / d).toFixed(2);
    console.log(row([j ? "" : "ResNet-50 (random)", name, fmtMs(ms), r(med["ORT QDQ"]), r(med["ORT f32"])], W));
  }
} finally {
  await close();
  server.close();
}
