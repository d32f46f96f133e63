// The npm package as a user gets it: `npm pack` pkg/, install the tarball
// into a fresh Vite app (tests/package/app), then
//   - tsc --noEmit on a TypeScript consumer against the shipped types;
//   - Node 20: classify on encoded bytes vs the native CLI's top-5;
//   - vite build, serve the build, and in headless Chromium: real photos on
//     the CPU and on WebGPU (SwiftShader) vs the CLI, every image source,
//     worker mode vs the main thread, a lost GPU device, zero-config "auto"
//     against the app's own timings of each backend, "auto" without
//     WebGPU, embed on both backends vs Node, and the error codes.
// With CI=true a missing browser or WebGPU adapter FAILS; elsewhere it is
// reported and those checks are skipped.
// Then the same package in an app of each major bundler, with zero
// configuration (bundlers.mjs).
// Usage: node tests/package/run.mjs   (after `make pkg` and `cargo build --release`)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CLI, ROOT } from "../../testkit/common.mjs";
import { openPage } from "../../testkit/chromium.mjs";
import { serve } from "../../scripts/serve.mjs";
import { CI, check, failures, finish, missing } from "../../testkit/report.mjs";
import { bundlerChecks } from "./bundlers.mjs";

const PKG = join(ROOT, "pkg");
const MODEL = join(PKG, "model", "default.wrn");
const PHOTOS = join(ROOT, ".cache", "photos");
const CATS = new Set([281, 282, 283, 284, 285]); // tabby, tiger, Persian, Siamese, Egyptian cat
const ESPRESSO = 967;
// Probability tolerances against the CLI: the wasm CPU path is the CLI's
// code; WebGPU sums in another order.
const TOL = { "cpu-simd": 1e-4, webgpu: 1e-3 };

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: "utf8", ...opts });
const fmt = (top) => top.map((p) => `${p.index} ${p.label} ${p.probability.toFixed(4)}`).join("; ");

for (const need of [join(PKG, "index.js"), join(PKG, "package.json"), MODEL, CLI]) {
  if (!existsSync(need)) throw new Error(`${need} missing: run make pkg build`);
}

// The CLI's top-5 per photo, on the very model file the package ships.
const cli = {};
for (const photo of ["chelsea", "coffee"]) {
  const file = join(PHOTOS, `${photo}.png`);
  cli[photo] = JSON.parse(run(CLI, ["classify", file, "--model", MODEL, "--top", "5", "--json"]))[0].top;
}

// Same top-5 classes as the CLI, probabilities within `tol`.
function compareToCli(top, photo, tol) {
  const want = cli[photo];
  const sameClasses = top.map((p) => p.index).join() === want.map((p) => p.index).join();
  const maxDp = Math.max(...top.map((p, i) => Math.abs(p.probability - want[i].probability)));
  return { ok: sameClasses && maxDp <= tol, maxDp };
}

// What the photo must be, whatever the backend.
function sensible(top, photo) {
  return photo === "chelsea" ? top.some((p) => CATS.has(p.index)) : top[0].index === ESPRESSO;
}

function maxRelDiff(want, got) {
  if (want.length !== got.length) return Infinity;
  let range = 0;
  let diff = 0;
  want.forEach((w, i) => {
    range = Math.max(range, Math.abs(w));
    diff = Math.max(diff, Math.abs(w - got[i]));
  });
  return diff / range;
}

// Server-side rendering imports the package in Node (a Next.js server
// component, a client component's prerender): the import must not touch
// the browser's globals. Each is watched while `url` is imported.
async function importWatchingGlobals(url) {
  const names = ["window", "document", "navigator", "self", "Worker"];
  const touched = new Set();
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]);
  for (const [name, d] of saved) {
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get() {
        touched.add(name);
        return d?.get ? d.get.call(globalThis) : d?.value;
      },
    });
  }
  try {
    return await import(url);
  } finally {
    for (const [name, d] of saved) {
      if (d) Object.defineProperty(globalThis, name, d);
      else delete globalThis[name];
    }
    check(
      !touched.size,
      `Node: importing the package reads none of ${names.join(", ")} (read: ${[...touched].join(", ") || "none"})`,
    );
  }
}

const tmp = mkdtempSync(join(tmpdir(), "webresnet-package-"));
const app = join(tmp, "app");
let keep = false;
try {
  // ---- npm pack and install into a fresh app ----
  const [packed] = JSON.parse(run("npm", ["pack", PKG, "--pack-destination", tmp, "--json"]));
  const files = packed.files.map((f) => f.path);
  const needed = [
    "package.json",
    "README.md",
    "index.js",
    "index.d.ts",
    "worker.js",
    "threads.js",
    "thread_worker.js",
    "webresnet_bg.wasm",
    "model/default.wrn",
    "model/LICENSE",
  ];
  const missing = needed.filter((f) => !files.includes(f));
  check(
    !missing.length,
    `npm pack ${packed.filename}: ${files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked${missing.length ? `; missing ${missing}` : ""}`,
  );

  cpSync(join(ROOT, "tests", "package", "app"), app, { recursive: true });
  mkdirSync(join(app, "public"));
  for (const photo of ["chelsea", "coffee"]) cpSync(join(PHOTOS, `${photo}.png`), join(app, "public", `${photo}.png`));
  cpSync(MODEL, join(app, "public", "model.wrn"));
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "webresnet-test-app",
      private: true,
      type: "module",
      dependencies: { webresnet: `file:../${packed.filename}` },
    }),
  );
  run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "--offline"], { cwd: app });

  // ---- TypeScript consumer ----
  try {
    run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", join(app, "tsconfig.json")]);
    check(
      true,
      "tsc --noEmit: consumer.ts type-checks against the shipped index.d.ts (and its @ts-expect-error lines are errors)",
    );
  } catch (e) {
    check(false, `tsc --noEmit:\n${e.stdout}${e.stderr}`);
  }

  // ---- Node 20, through the package's exports ----
  writeFileSync(join(app, "entry.mjs"), 'export * from "webresnet";\n');
  const { Classifier } = await importWatchingGlobals(pathToFileURL(join(app, "entry.mjs")).href);
  const node = await Classifier.create();
  check(node.backend === "cpu-simd", `Node: default model on ${node.backend} (${node.fallbackReason})`);
  for (const photo of ["chelsea", "coffee"]) {
    const top = await node.classify(readFileSync(join(PHOTOS, `${photo}.png`)), { topK: 5 });
    const c = compareToCli(top, photo, TOL["cpu-simd"]);
    check(
      c.ok && sensible(top, photo),
      `Node classify(${photo}.png bytes): ${fmt(top)} (max |dp| vs CLI ${c.maxDp.toExponential(2)})`,
    );
  }
  const nodeFeatures = await node.embed(readFileSync(join(PHOTOS, "chelsea.png")));
  node.dispose();
  {
    // Options in Node: labels, SHA-256 over bytes, and worker mode refused (no Web Workers).
    const bytes = readFileSync(MODEL);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const labels = Array.from({ length: 1000 }, (_, i) => `class ${i}`);
    const named = await Classifier.create({ model: bytes, sha256, labels });
    const [top] = await named.classify(readFileSync(join(PHOTOS, "coffee.png")), { topK: 1 });
    named.dispose();
    check(
      top.label === `class ${ESPRESSO}`,
      `Node: labels option names the classes (${top.index} ${top.label}); sha256 over model bytes accepted`,
    );
    const codeOf = (p) =>
      p.then(
        () => "resolved",
        (e) => e.code,
      );
    const wrongHash = await codeOf(Classifier.create({ model: bytes, sha256: "f".repeat(64) }));
    const worker = await codeOf(Classifier.create({ worker: true }));
    check(
      wrongHash === "INTEGRITY" && worker === "INVALID_INPUT",
      `Node: wrong sha256 rejects with ${wrongHash}, worker mode with ${worker}`,
    );
  }

  // ---- vite build, served by vite preview ----
  const { build, preview } = await import("vite");
  await build({ root: app, logLevel: "warn" });
  const assets = readdirSync(join(app, "dist", "assets"));
  check(
    assets.some((f) => f.endsWith(".wasm")) &&
      assets.some((f) => f.endsWith(".wrn")) &&
      assets.some((f) => f.startsWith("worker")),
    `vite build: the wasm, the default model and the worker are emitted (${assets.join(", ")})`,
  );
  const server = await preview({
    root: app,
    logLevel: "warn",
    appType: "mpa",
    preview: { host: "127.0.0.1", port: 4173 },
  });
  const origin = server.resolvedUrls.local[0].replace(/\/$/, "");

  let browser;
  try {
    browser = await openPage(`${origin}/`);
  } catch (e) {
    await server.close();
    if (!missing(`browser checks: the browser did not start: ${e.message}`) && CI) throw e;
  }
  if (browser) {
    try {
      await browserChecks(browser.page, nodeFeatures, { context: browser.context, app });
      await bundlerChecks({
        tarball: join(tmp, packed.filename),
        photo: join(PHOTOS, "coffee.png"),
        context: browser.context,
      });
    } finally {
      await browser.close();
      await server.close();
    }
  }
} catch (e) {
  keep = true;
  check(false, `${e.stack ?? e}`);
} finally {
  if (keep || failures()) console.log(`(the test app is left in ${app})`);
  else rmSync(tmp, { recursive: true, force: true });
}

async function browserChecks(page, nodeFeatures, { context, app }) {
  const call = (name, arg) => page.evaluate(([n, a]) => window[n](a), [name, arg]);
  const gpu = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  if (!gpu) missing("WebGPU checks: no adapter in headless Chromium");

  // Results of one classifyCase against the CLI and common sense.
  const report = (what, r, tol) => {
    if (r.error) return check(false, `${what}: ${r.error.code} ${r.error.message}`);
    console.log(
      `     ${what}: ${r.backend}${r.adapter ? ` (${r.adapter})` : ""}, create ${(r.createMs / 1000).toFixed(1)} s, progress ${r.phases.join(">")}`,
    );
    check(r.phases.join() === "download,compile,warmup", `${what}: onProgress phases ${r.phases}`);
    for (const { photo, kind, top, ms } of r.results) {
      // A video frame went through the video pipeline's colour conversion: the right class is enough.
      const c = kind === "video" ? { ok: true, maxDp: NaN } : compareToCli(top, photo, tol);
      check(
        c.ok && sensible(top, photo),
        `${what} ${photo} as ${kind}: ${fmt(top)} (max |dp| vs CLI ${c.maxDp.toExponential(2)}, ${ms.toFixed(0)} ms)`,
      );
    }
    return true;
  };

  const kinds = [
    ...["image", "bytes", "arraybuffer", "blob", "file", "bitmap", "imagedata", "canvas", "offscreen"],
    ...["url", "urlobject", "bloburl"],
  ];
  const items = [...kinds.map((k) => ["chelsea", k]), ["coffee", "image"], ["coffee", "video"]];

  // embed(chelsea) in the page against Node's (the same wasm on the same pixels).
  const checkEmbed = (r) => {
    const rel = maxRelDiff(Array.from(nodeFeatures), r.features);
    const tol = r.backend === "webgpu" ? 1e-3 : 1e-5;
    check(
      rel <= tol,
      `embed(chelsea) on ${r.backend}: ${r.features.length} features, max |diff| vs Node ${rel.toExponential(2)} of range (limit ${tol})`,
    );
  };

  const main = await call("classifyCase", { options: { backend: "cpu" }, items, embed: true });
  if (report("cpu, main thread", main, TOL["cpu-simd"])) {
    check(main.backend === "cpu-simd", `cpu backend reports ${main.backend}`);
    checkEmbed(main);
  }

  const worker = await call("classifyCase", { options: { backend: "cpu", worker: true }, items, embed: true });
  if (report("cpu, worker", worker, TOL["cpu-simd"]) && !main.error) {
    const same = worker.results.every(
      (w, i) => w.kind === "video" || JSON.stringify(w.top) === JSON.stringify(main.results[i].top),
    );
    check(same, "worker mode gives exactly the main thread's results for every source");
    check(
      JSON.stringify(worker.features) === JSON.stringify(main.features),
      "worker mode's embed equals the main thread's",
    );
  }

  // Zero configuration, as a fresh app would: "auto" must take the backend
  // this app measures faster (its own timings of the same photo on each), and say why.
  const zero = await call("classifyCase", { options: {}, items: [["coffee", "image"]] });
  report("zero-config (auto), main thread", zero, TOL["cpu-simd"]);
  const msOf = (r) => r.results?.find((x) => x.photo === "coffee" && x.kind === "image")?.ms;

  if (gpu) {
    const g = await call("classifyCase", {
      options: { backend: "webgpu" },
      items: [
        ["chelsea", "image"],
        ["coffee", "image"],
      ],
      embed: true,
      afterLoss: ["lose"],
    });
    if (report("webgpu, main thread", g, TOL.webgpu)) {
      check(
        g.backend === "webgpu" && !!g.adapter && g.backendReason === '"webgpu" was asked for',
        `a forced "webgpu" runs WebGPU (${g.backend}, ${g.adapter}; backendReason: ${g.backendReason})`,
      );
      checkEmbed(g);
      const [lost] = g.afterLoss;
      check(
        lost.backend === "webgpu" && lost.top[0].index === ESPRESSO,
        `device lost: the next classify succeeds on a new device (${lost.backend}): ${fmt(lost.top)}`,
      );
    }
    if (!zero.error && !main.error && !g.error) {
      const [cpuMs, gpuMs] = [msOf(main), msOf(g)];
      const faster = cpuMs < gpuMs ? "cpu-simd" : "webgpu";
      check(
        zero.backend === faster && /software renderer|fallback adapter/.test(zero.backendReason),
        `zero-config "auto" runs ${zero.backend}; this app measured coffee.png at ${cpuMs.toFixed(0)} ms on the CPU, ` +
          `${gpuMs.toFixed(0)} ms on WebGPU (${g.adapter}); backendReason: ${zero.backendReason}`,
      );
    }
    // "auto" on WebGPU (a remembered choice), then the device is lost with no adapter left: the CPU takes over.
    const a = await call("classifyCase", {
      options: { backend: "auto" },
      remember: "webgpu",
      items: [],
      afterLoss: ["lose-and-refuse"],
    });
    if (report("auto, remembered WebGPU, main thread", a, TOL.webgpu)) {
      const [refused] = a.afterLoss;
      check(
        a.backend === "webgpu" && /remembered/.test(a.backendReason),
        `a remembered WebGPU choice: auto runs ${a.backend} (${a.backendReason})`,
      );
      check(
        refused.backend === "cpu-simd" && refused.top[0].index === ESPRESSO && !!refused.fallbackReason,
        `device lost and no adapter left: falls back to ${refused.backend} (${refused.fallbackReason}): ${fmt(refused.top)}`,
      );
    }
    const gw = await call("classifyCase", {
      options: { backend: "webgpu", worker: true },
      items: [["coffee", "image"]],
    });
    if (report("webgpu, worker", gw, TOL.webgpu)) check(gw.backend === "webgpu", `WebGPU in a worker (${gw.adapter})`);
  }

  // Photos on another origin, served with no CORS.
  const foreign = await serve({ mounts: { "/": ".cache/photos" }, isolate: false });
  const foreignOptions = [
    { backend: "cpu" },
    { backend: "cpu", worker: true },
    ...(gpu ? [{ backend: "webgpu" }] : []),
  ];
  for (const options of foreignOptions) {
    const r = await call("foreignCase", { options, foreignOrigin: foreign.origin });
    const where = `${options.backend}${options.worker ? ", worker" : ""}`;
    check(
      r.code === "INVALID_INPUT" && /another origin.*CORS/.test(r.message),
      `a photo from another origin without CORS (${where}, ran on ${r.backend}): ${r.code ?? r.error?.code ?? "resolved"}: ${r.message ?? r.error?.message}`,
    );
  }
  foreign.server.close();

  // This preview sends no COOP/COEP: `threads` runs one thread, quietly.
  check(
    worker.error || (worker.backend === "cpu-simd" && worker.threads === 1),
    `no cross-origin isolation: the worker runs ${worker.backend}, ${worker.threads} thread(s)`,
  );
  await threadedChecks(context, app, report);

  const fb = await call("fallbackCase");
  if (fb.error) check(false, `fallback: ${fb.error.code} ${fb.error.message}`);
  else {
    check(
      !fb.gpuVisible && fb.backend === "cpu-simd" && fb.top[0].index === ESPRESSO,
      `navigator.gpu removed: auto runs on ${fb.backend} (${fb.fallbackReason}): ${fmt(fb.top)}`,
    );
  }

  const sha256 = createHash("sha256").update(readFileSync(MODEL)).digest("hex");
  const want = {
    garbageImage: "IMAGE_DECODE",
    notAnImage: "INVALID_INPUT",
    missingImage: "NETWORK",
    badTopK: "INVALID_INPUT",
    badShape: "INVALID_INPUT",
    disposed: "DISPOSED",
    wrongHash: "INTEGRITY",
    garbageModel: "MODEL_FORMAT",
    missingModel: "NETWORK",
    badBackend: "INVALID_INPUT",
    abortedBefore: "ABORTED",
    abortedMidway: "ABORTED",
  };
  for (const worker of [false, true]) {
    const r = await call("errorCase", { modelUrl: "/model.wrn", sha256, worker });
    const where = worker ? "worker" : "main thread";
    if (r.error) {
      check(false, `errors (${where}): ${r.error.code} ${r.error.message}`);
      continue;
    }
    const wrong = Object.entries(want).filter(([k, code]) => r.codes[k] !== code);
    check(
      !wrong.length,
      `errors (${where}) reject with WebResnetError codes ${JSON.stringify(r.codes)}${wrong.length ? `; expected ${JSON.stringify(Object.fromEntries(wrong))}` : ""}`,
    );
    check(r.after[0]?.index === ESPRESSO, `after those failures the classifier still classifies (${fmt(r.after)})`);
    check(r.cached, `the model (sha256 ${sha256.slice(0, 12)}...) was stored in the Cache API`);
    if (!worker)
      check(
        r.refetched === false,
        "a second create with the same model URL reads it from the Cache API, not the network",
      );
  }
}

// The threaded build as the bundler emitted it (its glue, its pool's worker
// script): the same app served with COOP/COEP, worker mode, 2 threads.
async function threadedChecks(context, app, report) {
  const { preview } = await import("vite");
  const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
  const server = await preview({
    root: app,
    logLevel: "warn",
    appType: "mpa",
    preview: { host: "127.0.0.1", port: 4174, headers },
  });
  const page = await context.newPage();
  try {
    await page.goto(server.resolvedUrls.local[0]);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 120_000 });
    const options = { backend: "cpu", worker: true, threads: 2 };
    const r = await page.evaluate((c) => window.classifyCase(c), {
      options,
      items: [
        ["chelsea", "image"],
        ["coffee", "bytes"],
      ],
    });
    if (report("cpu, worker, threads: 2, COOP/COEP", r, TOL["cpu-simd"])) {
      check(
        r.backend === "cpu-simd-threads" && r.threads === 2,
        `cross-origin isolated: the worker runs ${r.backend}, ${r.threads} threads`,
      );
    }
  } finally {
    await page.close();
    await server.close();
  }
}

finish("package");
