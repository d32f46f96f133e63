// Browser end-to-end test: headless Chromium, WebGPU on SwiftShader and the
// wasm CPU path, on random-weight ResNet-18, against the native CLI's logits
// for the same seeded input.
//
// With CI=true a missing browser, navigator.gpu or adapter FAILS the test;
// elsewhere it is reported and the WebGPU case is skipped.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, compare, compareInt8, INT8_REL_TOL, MODELS, nativeInfer, ROOT } from "../../testkit/common.mjs";
import { serve } from "../../scripts/serve.mjs";
import { check, fail, missing } from "../../testkit/report.mjs";
import { openTestPage } from "../../testkit/test_page.mjs";

const MODEL = "resnet18.onnx";
const SHAPE = [1, 3, 224, 224];
const SEED = 4242;
// GPU float order differs from the CPU's; CPU-in-wasm should match closely.
const TOL = { webgpu: 1e-3, cpu: 1e-4 };

const { seededInput } = await import("../../testkit/seeded.mjs");
const want = nativeInfer(
  join(MODELS, MODEL),
  SHAPE,
  seededInput(
    SHAPE.reduce((a, b) => a * b, 1),
    SEED,
  ),
);

const { page, context, checks } = await openTestPage("browser", "browser");

await checks(async () => {
  const probe = await page.evaluate(() => window.probeWebGpu());
  console.log(
    `navigator.gpu: ${probe.gpu}, adapter: ${probe.adapter} ${probe.info ?? ""}, shader-f16: ${probe.f16 ?? "-"}`,
  );
  const backends = ["cpu"];
  if (probe.adapter) backends.unshift("webgpu");
  else missing("WebGPU checks: no adapter in headless Chromium");

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
    check(c.ok, line);
    // adapterInfo() names the adapter as the browser does (wgpu alone leaves it empty here).
    if (backend === "webgpu" && probe.vendor && !r.adapter.startsWith(probe.vendor)) {
      fail(`adapterInfo() "${r.adapter}" does not start with the browser's vendor "${probe.vendor}"`);
    }
  }

  // The int8 kernels in the build they are for, the relaxed one, against the
  // native int8 run; its two dot products (the fused dot-add, which the
  // engine probe picks where it is one VNNI instruction, and the pair sums
  // widened) make the same sums, so they must agree to the bit.
  {
    const name = "default-int8.wrn";
    const input = seededInput(
      SHAPE.reduce((a, b) => a * b, 1),
      SEED,
    );
    const native = nativeInfer(join(MODELS, name), SHAPE, input);
    const r = await page.evaluate((c) => window.int8BothDots(c), {
      model: `/.cache/models/${name}`,
      shape: SHAPE,
      seed: SEED,
    });
    if (r.error) fail(`cpu relaxed ${name}: ${r.error.code} ${r.error.message}`);
    else {
      const c = compareInt8(native, Float32Array.from(r.logits));
      const same = r.other.length === r.logits.length && r.other.every((v, i) => Object.is(v, r.logits[i]));
      const [picked, other] = r.picked
        ? ["fused dot-add", "widened pair sums"]
        : ["widened pair sums", "fused dot-add"];
      check(
        c.ok && same,
        `cpu relaxed ${name} [${SHAPE}] on the ${picked} (the engine probe's pick): infer ${r.inferMs.toFixed(0)} ms; ` +
          `max|diff| ${c.maxDiff.toExponential(3)} = ${c.rel.toExponential(2)} of range (limit ${INT8_REL_TOL.toPrecision(3)}); ` +
          `top5 ${c.topGot} vs native ${c.topWant}; the ${other} ${same ? "bit-identical" : "DIFFER"}`,
      );
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
      check(got === want, line);
    }
  }

  await threadsChecks(page, want);
  await streamChecks(page);
  if (probe.adapter) await coldStartChecks(page);

  // An error crosses the boundary with its code.
  const bad = await page.evaluate(() =>
    window.runCase({ model: "/tests/browser/page.html", backend: "cpu", shape: [1], seed: 1 }),
  );
  check(
    bad.error?.code === "MODEL_FORMAT" && bad.error?.name === "WebResnetError",
    `bad model rejects with MODEL_FORMAT: got ${JSON.stringify(bad.error ?? bad)}`,
  );
});

// A project model file the package downloads is read as it arrives
// (src/model/incoming.rs): the result must be bit for bit that of the same
// bytes imported whole, for f32 and f16 files; a file whose data was altered
// must still fail its hash, and an ONNX file is imported whole.
async function streamChecks(page) {
  const f16 = readFileSync(join(ROOT, "pkg", "model", "default.wrn"));
  f16[f16.length - 5] ^= 0x40;
  writeFileSync(join(MODELS, "tampered_stream.wrn"), f16);
  const cases = [
    { model: "/.cache/models/default.wrn", streamed: true },
    { model: "/pkg/model/default.wrn", streamed: true },
    { model: "/.cache/models/efficientnet_lite0.onnx", streamed: false },
  ];
  const shape = [1, 3, 224, 224];
  for (const { model, streamed } of cases) {
    const c = { model, shape, seed: SEED };
    const s = await page.evaluate((c) => window.streamCase(c), c);
    const whole = await page.evaluate((c) => window.runCase(c), { ...c, backend: "cpu" });
    if (s.error || whole.error) {
      fail(`${model} downloaded by the package: ${JSON.stringify(s.error ?? whole.error)}`);
      continue;
    }
    const differ = s.logits.findIndex((v, i) => !Object.is(v, whole.logits[i]));
    const n = s.logits.length;
    const pairDiffers = s.pair.findIndex((v, i) => !Object.is(v, s.logits[i % n]));
    const line =
      `${model} downloaded by the package: read as it arrived ${s.streamed}; ${differ < 0 ? "bit-identical to" : `differs at ${differ} from`} the bytes imported whole; ` +
      `a batch of 2 planned again from the kept bytes: ${pairDiffers < 0 ? "both images bit-identical" : `differs at ${pairDiffers}`}`;
    const ok =
      s.streamed === streamed && differ < 0 && n === whole.logits.length && pairDiffers < 0 && s.pair.length === 2 * n;
    check(ok, line);
  }
  const t = await page.evaluate((c) => window.streamCase(c), {
    model: "/.cache/models/tampered_stream.wrn",
    shape,
    seed: SEED,
  });
  check(
    t.error?.code === "MODEL_FORMAT" && /SHA-256/.test(t.error.message),
    `a tampered file read as it arrives is refused with MODEL_FORMAT (SHA-256): got ${JSON.stringify(t.error ?? t)}`,
  );
}

// On WebGPU, a model file downloaded by the package has its pipelines
// compiled from its header while the weights arrive (src/gpu/ahead.rs): with
// the file's last bytes held back until the wasm marks its pipelines ready
// (or a minute passes), they are all compiled before those bytes arrive, none
// when the backend is built, and the logits match the CPU's.
async function coldStartChecks(page) {
  const model = "torch_plumbing.onnx";
  const wrn = join(MODELS, "cold_start.wrn");
  execFileSync(CLI, ["convert", join(MODELS, model), wrn], { stdio: "ignore" });
  const c = { model: "/.cache/models/cold_start.wrn", seed: SEED };
  const r = await page.evaluate((c) => window.coldStartCase(c), c);
  if (r.error) return fail(`cold start: ${r.error.code} ${r.error.message}`);
  const cpu = await page.evaluate((c) => window.runCase(c), { ...c, backend: "cpu", shape: r.shape });
  if (cpu.error) return fail(`cold start, the CPU's logits: ${cpu.error.code} ${cpu.error.message}`);
  const s = r.coldStart;
  const cmp = compare(Float32Array.from(cpu.logits), Float32Array.from(r.logits), TOL.webgpu);
  check(
    s.pipelinesCompiledAhead > 0 &&
      s.pipelinesCompiledAtBuild === 0 &&
      s.pipelinesReadyAtByte !== null &&
      s.pipelinesReadyAtByte < s.modelBytes &&
      !r.heldTooLong &&
      cmp.ok,
    `cold start (${model} as a .wrn, last bytes held back): ${s.pipelinesCompiledAhead} pipelines compiled ahead, ` +
      `ready at byte ${s.pipelinesReadyAtByte} of ${s.modelBytes}${r.heldTooLong ? " (held a minute: no mark)" : ""}; ` +
      `${s.pipelinesCompiledAtBuild} compiled at build; vs the CPU max|diff| ${cmp.rel.toExponential(2)} of range, ` +
      `top5 ${cmp.topGot} vs ${cmp.topWant}`,
  );
}

// The threaded CPU build in worker mode (this server sends COOP/COEP):
// 2 threads, against the native CLI and bit for bit against the
// single-threaded SIMD128 build on the page, on ResNet-18 (stride 2 on odd
// sizes, 1x1 stride 2, a 7x7 output of 49 rows split unevenly), a
// batch of 2 through MobileNet-style depthwise convs, and grouped ResNeXt
// convs. Then the same page from a server without COOP/COEP: one thread.
async function threadsChecks(page, resnet18) {
  const cases = [
    { file: MODEL, shape: SHAPE, native: resnet18 },
    { file: "mobilenet_small.onnx", shape: [2, 3, 224, 224] },
    { file: "resnext_small.onnx", shape: [1, 3, 224, 224] },
  ];
  for (const { file, shape, native } of cases) {
    const c = { model: `/.cache/models/${file}`, shape, seed: SEED };
    const t = await page.evaluate((c) => window.threadsCase(c), { ...c, threads: 2 });
    const one = await page.evaluate((c) => window.runCase(c), { ...c, backend: "cpu" });
    if (t.error || one.error) {
      fail(`threads ${file}: ${JSON.stringify(t.error ?? one.error)}`);
      continue;
    }
    const what = `threads ${file} [${shape}]: ${t.backend}, ${t.threads} threads (isolated ${t.isolated}), infer ${t.inferMs.toFixed(0)} ms`;
    if (t.backend !== "cpu-simd-threads" || t.threads !== 2 || t.stats.threads !== 2) {
      fail(`${what}; threadsFallback ${t.stats.threadsFallback}`);
      continue;
    }
    const differ = t.logits.findIndex((v, i) => !Object.is(v, one.logits[i]));
    let line = `${what}; ${differ < 0 ? "bit-identical to" : `differs at ${differ} from`} the 1-thread build (${one.backend})`;
    let ok = differ < 0 && t.logits.length === one.logits.length;
    if (native) {
      const n = compare(native, Float32Array.from(t.logits), TOL.cpu);
      line += `; vs native max|diff| ${n.rel.toExponential(2)} of range, top5 ${n.topGot} vs ${n.topWant}`;
      ok &&= n.ok;
    }
    check(ok, line);
  }

  const plain = await serve({ isolate: false });
  const other = await context.newPage();
  try {
    await other.goto(`${plain.origin}/tests/browser/page.html`);
    await other.waitForFunction(() => window.ready === true, null, { timeout: 120_000 });
    const t = await other.evaluate((c) => window.threadsCase(c), {
      model: `/.cache/models/${MODEL}`,
      shape: SHAPE,
      seed: SEED,
      threads: 2,
    });
    const n = t.error ? null : compare(resnet18, Float32Array.from(t.logits), TOL.cpu);
    const line = `no COOP/COEP (isolated ${t.isolated}), threads: 2 asked: ${t.error ? JSON.stringify(t.error) : `${t.backend}, ${t.threads} thread(s), ${n.rel.toExponential(2)} of range vs native`}`;
    check(!t.error && t.backend === "cpu-simd" && t.threads === 1 && !t.isolated && n.ok, line);
  } finally {
    await other.close();
    plain.server.close();
  }
}
