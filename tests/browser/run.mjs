// Browser end-to-end test: headless Chromium, WebGPU on SwiftShader and the
// wasm CPU path, on random-weight ResNet-18, against the native CLI's logits
// for the same seeded input.
//
// With CI=true a missing browser, navigator.gpu or adapter FAILS the test;
// elsewhere it is reported and the WebGPU case is skipped.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { CLI, MODELS, ROOT, compare, nativeInfer } from "../node/common.mjs";
import { serve } from "../../scripts/serve.mjs";
import { openPage } from "./chromium.mjs";

const CI = process.env.CI === "true";
const MODEL = "resnet18.onnx";
const SHAPE = [1, 3, 224, 224];
const SEED = 4242;
// GPU float order differs from the CPU's; CPU-in-wasm should match closely.
const TOL = { webgpu: 1e-3, cpu: 1e-4 };

let failures = 0;
const fail = (msg) => {
  console.log(`FAIL ${msg}`);
  failures++;
};

const { seededInput } = await import("../node/seeded.mjs");
const want = nativeInfer(join(MODELS, MODEL), SHAPE, seededInput(SHAPE.reduce((a, b) => a * b, 1), SEED));

const { server, origin } = await serve();
let browser;
try {
  browser = await openPage(`${origin}/tests/browser/page.html`);
} catch (e) {
  server.close();
  if (CI) {
    console.log(`FAIL browser did not start: ${e.message}`);
    process.exit(1);
  }
  console.log(`SKIP browser test: ${e.message}`);
  process.exit(0);
}
const { page } = browser;

try {
  const probe = await page.evaluate(() => window.probeWebGpu());
  console.log(`navigator.gpu: ${probe.gpu}, adapter: ${probe.adapter} ${probe.info ?? ""}, shader-f16: ${probe.f16 ?? "-"}`);
  const backends = ["cpu"];
  if (probe.adapter) backends.unshift("webgpu");
  else if (CI) fail("no WebGPU adapter in headless Chromium (CI=true)");
  else console.log("SKIP webgpu: no adapter");

  for (const backend of backends) {
    const r = await page.evaluate((c) => window.runCase(c), {
      model: `/.cache/models/${MODEL}`,
      backend,
      shape: SHAPE,
      seed: SEED,
    });
    if (r.error) {
      fail(`${backend}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    const c = compare(want, Float32Array.from(r.logits), TOL[backend]);
    const line =
      `${backend} (${r.backend}${r.adapter ? `, ${r.adapter}` : ""}) ${MODEL} [${SHAPE}]: ` +
      `create ${(r.createMs / 1000).toFixed(2)} s, infer ${(r.inferMs / 1000).toFixed(2)} s; ` +
      `max|diff| ${c.maxDiff.toExponential(3)} = ${c.rel.toExponential(2)} of range ${c.range.toFixed(3)} ` +
      `(limit ${TOL[backend]}); top5 ${c.topGot} vs native ${c.topWant}`;
    if (c.ok) console.log(`ok   ${line}`);
    else fail(line);
    // adapterInfo() names the adapter as the browser does (wgpu alone leaves it empty here).
    if (backend === "webgpu" && probe.vendor && !r.adapter.startsWith(probe.vendor)) {
      fail(`adapterInfo() "${r.adapter}" does not start with the browser's vendor "${probe.vendor}"`);
    }
  }

  // classifyRgba from canvas pixels (CPU backend, a real photo) against the CLI's classify.
  {
    const photo = join(ROOT, ".cache", "photos", "chelsea.png");
    const model = join(MODELS, "mobilenet_small.onnx");
    const cli = JSON.parse(execFileSync(CLI, ["classify", photo, "--model", model, "--top", "5", "--json"]))[0].top;
    const r = await page.evaluate((c) => window.classifyPhoto(c), {
      model: "/.cache/models/mobilenet_small.onnx",
      backend: "cpu",
      photo: "/.cache/photos/chelsea.png",
      topK: 5,
    });
    if (r.error) fail(`classifyRgba: ${r.error.code} ${r.error.message}`);
    else {
      const got = r.top.map((p) => p.index).join();
      const want = cli.map((p) => p.index).join();
      const line = `classifyRgba chelsea.png (canvas pixels) top5 ${got} vs CLI ${want} (${r.top[0].label} ${r.top[0].probability.toFixed(4)})`;
      if (got === want) console.log(`ok   ${line}`);
      else fail(line);
    }
  }

  // An error crosses the boundary with its code.
  const bad = await page.evaluate(() =>
    window.runCase({ model: "/tests/browser/page.html", backend: "cpu", shape: [1], seed: 1 }),
  );
  if (bad.error?.code === "MODEL_FORMAT" && bad.error?.name === "WebResnetError") {
    console.log(`ok   bad model rejects with ${bad.error.name} ${bad.error.code}`);
  } else fail(`bad model: expected MODEL_FORMAT, got ${JSON.stringify(bad)}`);
} finally {
  await browser.close();
  server.close();
}

if (failures) {
  console.error(`${failures} browser check(s) failed`);
  process.exit(1);
}
