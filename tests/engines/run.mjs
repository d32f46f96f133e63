// The package and the demo page in Firefox and WebKit (Chromium has its own
// suites: tests/browser, tests/package, tests/demo). Per engine:
// - the package with no bundler (pkg/ imported by URL from a page served with
//   COOP/COEP): every image source kind the engine has, on the page's thread
//   and in worker mode; the backend and why (no WebGPU in these engines);
//   the CPU threads; the typed error codes; the fake camera;
// - the demo page, served as `make demo` serves it (CSP, COOP/COEP): photos
//   by every input, bad files, the fake camera, the CSP enforced, no request
//   off-origin;
// - WebKit only: a 500-frame soak with the wasm heap flat, and the threaded
//   build with SharedArrayBuffer switched on in JavaScriptCore (see
//   docs/engines.md for why WebKitGTK gets one thread).
// The coffee photo must give espresso (ImageNet 967), chelsea a cat (281-285).
//
// ENGINES=firefox,webkit picks engines. A check an engine can't run is named
// with its reason (SKIP); under CI=true a missing engine fails.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../testkit/common.mjs";
import { DEMO_CSP, DEMO_MOUNTS, TEST_MOUNTS, serve } from "../../scripts/serve.mjs";
import { ENGINES, absent, openEngine } from "../../testkit/engines.mjs";
import { interpose, wrapBody } from "../../testkit/interpose.mjs";
import { check, fail, finish, missing } from "../../testkit/report.mjs";

const ESPRESSO = 967;
const isCat = (index) => index >= 281 && index <= 285; // tabby, tiger cat, Persian, Siamese, Egyptian cat
const SOAK_FRAMES = 500;
const SOAK_WARMUP = 50;

const engines = process.env.ENGINES ? process.env.ENGINES.split(",") : ENGINES;
const skip = (line) => console.log(`SKIP ${line}`);
const ms = (x) => `${Math.round(x)} ms`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (p) => `${(p * 100).toFixed(1)}%`;

// Serves `prefix` in front of the file at URL path `path`, everything else
// (the headers, the CSP among them) as served.
function prepend(server, path, prefix) {
  interpose(server, (req, res) => {
    if (new URL(req.url, "http://localhost").pathname === path) wrapBody(res, { before: prefix });
  });
}

const pkgServer = await serve({ mounts: { ...TEST_MOUNTS, "/tests/engines/": "tests/engines" } });
const demoServer = await serve({ mounts: DEMO_MOUNTS, csp: DEMO_CSP });
// Photos from another origin, which lets other pages embed them (an isolated
// page needs that) but not read them: no CORS.
const foreignServer = await serve({
  mounts: { "/": ".cache/photos" },
  isolate: false,
  headers: { "cross-origin-resource-policy": "cross-origin" },
});
prepend(
  demoServer.server,
  "/main.js",
  ["testkit/eval_probe.mjs", "tests/engines/demo_hooks.js"].map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n"),
);
prepend(demoServer.server, "/pkg/worker.js", readFileSync(join(ROOT, "tests/engines/worker_hooks.js")));

// Opens `url` in `engine` (openEngine's options), runs `body(page)` once the
// page has defined window[options.global], closes it; a failure to open or a
// throw is one failed check named `name`.
async function session(engine, name, url, options, body) {
  console.log(`-- ${engine}: ${name}`);
  const t0 = Date.now();
  let page;
  try {
    page = await openEngine(engine, url, options);
  } catch (e) {
    fail(`${engine}: ${name}: the browser did not open the page: ${e.message.split("\n")[0]}`);
    return;
  }
  try {
    await defined(page, options.global);
    await body(page);
  } catch (e) {
    fail(`${engine}: ${name}: ${e.message.split("\n")[0]}`);
  } finally {
    await page.close();
    console.log(`   (${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
}

// Waits until the page has defined `global` (its module scripts ran).
async function defined(page, global) {
  for (let i = 0; i < 600; i++) {
    if ((await page.typeOf(global)) === "object") return;
    await new Promise((tick) => setTimeout(tick, 100));
  }
  throw new Error(`the page never defined window.${global}`);
}

// The page's answer to `call`, or a failure naming it once `seconds` pass
// without one: a stalled call fails fast instead of holding the run.
async function within(seconds, what, call) {
  let timer;
  const stalled = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([call(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

const call = (page, name, arg, seconds = 120) => within(seconds, name, () => page.call(`checks.${name}`, arg ?? {}));

// The CPU threads the package should run in worker mode here: the threaded
// build needs a cross-origin isolated page with SharedArrayBuffer.
const expectedThreads = (probe) =>
  probe.isolated && probe.sharedArrayBuffer === "function" ? Math.min(probe.cores, 4) : 1;

function checkResults(engine, where, r) {
  for (const s of r.results) {
    if (s.missing) skip(`${engine} ${where}: ${s.kind}: this engine has ${s.missing}`);
    else if (s.error) fail(`${engine} ${where}: ${s.kind}: ${s.error}`);
    else {
      const [best] = s.top;
      check(
        best.index === ESPRESSO,
        `${engine} ${where}: ${s.kind} of coffee.png: top-1 ${best.index} "${s.label}" ${pct(best.p)} ` +
          `(want ${ESPRESSO}), ${ms(s.ms)}`,
      );
    }
  }
  check(isCat(r.cat[0].index), `${engine} ${where}: chelsea.png: top-1 ${r.cat[0].index} (want 281-285)`);
}

async function packageChecks(engine, page, { soak }) {
  const probe = await call(page, "probe");
  console.log(
    `   ${probe.userAgent}; navigator.gpu: ${probe.gpu}; crossOriginIsolated: ${probe.isolated}; ` +
      `SharedArrayBuffer: ${probe.sharedArrayBuffer}; shared wasm memory: ${probe.sharedWasmMemory}; cores: ${probe.cores}`,
  );
  check(probe.isolated, `${engine}: the package page is cross-origin isolated (COOP/COEP)`);

  const main = await call(page, "mainThread");
  const cpu = probe.gpu ? null : "navigator.gpu is missing";
  if (cpu) {
    check(
      main.backend === "cpu-simd" && main.fallbackReason === cpu && main.adapter === null,
      `${engine}: no WebGPU: "auto" runs ${main.backend}, fallbackReason "${main.fallbackReason}"`,
    );
  } else skip(`${engine}: the no-WebGPU fallback: this engine offers navigator.gpu (backend ${main.backend})`);
  check(
    main.threads === 1 && main.stats.threads === 1 && main.stats.wasmMemoryBytes > 0,
    `${engine}: page's thread: ${main.threads} thread (a page may not block on Atomics.wait); ` +
      `stats() ${JSON.stringify(main.stats)}`,
  );
  checkResults(engine, "page", main);

  const want = expectedThreads(probe);
  // Firefox's known stall of a worker's thread pool (docs/engines.md) is the
  // package's to recover from, on threads in a fresh worker.
  const worker = await call(page, "worker");
  check(
    worker.threads === want &&
      worker.stats.threads === want &&
      worker.backend === (want > 1 ? "cpu-simd-threads" : "cpu-simd"),
    `${engine}: worker mode: ${worker.backend}, ${worker.threads} thread(s) (want ${want}); stats() ${JSON.stringify(worker.stats)}`,
  );
  if (want === 1 && probe.isolated) {
    console.log(
      `   ${engine}: 1 thread because typeof SharedArrayBuffer is "${probe.sharedArrayBuffer}" ` +
        `on this cross-origin isolated page (see docs/engines.md)`,
    );
  }
  checkResults(engine, "worker", worker);

  const errors = await call(page, "errors", { foreignOrigin: foreignServer.origin });
  const wantCodes = {
    badModelBytes: "MODEL_FORMAT",
    badModelBytesWorker: "MODEL_FORMAT",
    missingModel: "NETWORK",
    badBackend: "INVALID_INPUT",
    abortedMidway: "ABORTED",
    abortedMidwayWorker: "ABORTED",
    notAnImage: "IMAGE_DECODE",
    noImage: "INVALID_INPUT",
    notASource: "INVALID_INPUT",
    missingImage: "NETWORK",
    foreignImage: "INVALID_INPUT",
    foreignImageWorker: "INVALID_INPUT",
    foreignUrl: "NETWORK",
    badTopK: "INVALID_INPUT",
    wrongLength: "INVALID_INPUT",
    wrongChannels: "SHAPE",
    disposed: "DISPOSED",
  };
  // What the message must say, where it has to tell the developer what to do.
  const wantMessages = { foreignImage: /another origin/, foreignImageWorker: /another origin/, foreignUrl: /CORS/ };
  for (const [name, code] of Object.entries(wantCodes)) {
    const e = errors[name];
    check(
      e?.typed && e.code === code && (wantMessages[name]?.test(e.message) ?? true),
      `${engine}: ${name}: ${e ? `${e.typed ? "WebResnetError" : "untyped"} ${e.code}: ${e.message.slice(0, 90)}` : "resolved"} (want ${code})`,
    );
  }

  const cam = await call(page, "camera");
  if (cam.missing) skip(`${engine}: fake camera: ${cam.missing}`);
  else {
    const valid = (top) => top.length === 3 && top[0].p >= top[1].p && top[1].p >= top[2].p && top[0].p <= 1;
    check(
      valid(cam.main) && valid(cam.worker),
      `${engine}: fake camera "${cam.device}" ${cam.size.join("x")}: page top-1 ${cam.main[0].index} ${pct(cam.main[0].p)}, ` +
        `worker top-1 ${cam.worker[0].index} ${pct(cam.worker[0].p)}`,
    );
  }

  if (soak) {
    const s = await call(page, "soak", { frames: SOAK_FRAMES, warmup: SOAK_WARMUP }, 600);
    const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    const tail = s.ms.slice(-100);
    check(
      s.ms.length === SOAK_FRAMES && s.heapAtEnd === s.heapAfterWarmup,
      `${engine}: soak: ${s.ms.length} camera frames in worker mode (${s.threads} thread): wasm heap ${mb(s.heapAfterWarmup)} ` +
        `after ${SOAK_WARMUP}, ${mb(s.heapAtEnd)} at the end; latency median ${ms(median(s.ms))}, ` +
        `first 100 ${ms(median(s.ms.slice(0, 100)))}, last 100 ${ms(median(tail))}, max ${ms(Math.max(...s.ms))}`,
    );
  }
  return { probe, main, worker };
}

async function demoChecks(engine, page, { probe, main }) {
  const espresso = main.results.find((r) => r.top && r.top[0].index === ESPRESSO)?.label;
  const cat = main.catLabel;
  const demo = (name, ...args) => within(300, name, () => page.call(`demoTest.${name}`, ...args));
  const state = await demo("modelReady");
  const status = await demo("state");
  const threads = expectedThreads(probe);
  const text = threads > 1 ? `CPU, wasm SIMD, ${threads} threads` : "CPU, wasm SIMD, 1 thread";
  check(
    state === "ready" && status.backend === text,
    `${engine} demo: model ${state}; running on "${status.backend}" (want "${text}")`,
  );
  if (!probe.gpu) {
    check(
      /WebGPU is unavailable.*navigator\.gpu is missing/.test(status.notice),
      `${engine} demo: notice "${status.notice}"`,
    );
  }

  const photos = [
    ["coffee.png", "sample", espresso],
    ["chelsea.png", "file", cat],
    ["coffee.png", "drop", espresso],
    ["chelsea.png", "paste", cat],
  ];
  for (const [name, how, label] of photos) {
    let r;
    try {
      r = await demo("photo", name, how);
    } catch (e) {
      // An engine whose events can't carry a file this way (a constructor refusing
      // dataTransfer/clipboardData) is named, not failed; anything else fails.
      if (/a synthetic \w+ here carries no/.test(e.message)) {
        skip(`${engine} demo: ${how} ${name}: this engine can't synthesize it: ${e.message.split("\n")[0]}`);
        continue;
      }
      throw e;
    }
    check(
      r.labels[0] === label && !r.error,
      `${engine} demo: ${how} ${name}: top-1 "${r.labels[0]}" (want "${label}"), latency ${r.latency}`,
    );
  }

  const gallery = await demo("gallery", ["chelsea.png", "coffee.png"]);
  check(
    gallery[0].top === cat && gallery[1].top === espresso,
    `${engine} demo: two photos picked together: gallery ${gallery.map((g) => `${g.name} "${g.top}"`).join(", ")} ` +
      `(want "${cat}", "${espresso}")`,
  );

  let r = await demo("badFile", "file", "notes.txt");
  check(/not an image/.test(r.error), `${engine} demo: a file that is no image: "${r.error}"`);
  r = await demo("badFile", "own-model", "broken.onnx");
  check(
    /not a model/.test(r.error) && r.model === "default" && r.status === text,
    `${engine} demo: a file that is no model: "${r.error.slice(0, 100)}"; the model in use stays (${r.model}, ${r.status})`,
  );

  const cam = await demo("camera");
  check(
    cam.labels.length === 5 && cam.stopped === "Start camera",
    `${engine} demo: fake camera: live top-1 "${cam.labels[0]}", FPS ${cam.fps}, latency per frame ${cam.latency}; stops`,
  );

  const evalProbe = await demo("evalRefused");
  check(
    evalProbe.outcome === "EvalError" && evalProbe.reported,
    `${engine} demo: CSP: eval refused (${evalProbe.outcome}), reported: ${evalProbe.reported}`,
  );
  const seen = await page.read("demoTest.seen");
  const origin = new URL(demoServer.origin).origin;
  const url = (entry) => entry.slice(entry.indexOf(" ") + 1);
  const foreign = seen.resources.filter((e) => !/^(data|blob):/.test(url(e)) && new URL(url(e)).origin !== origin);
  const workerSaw = seen.resources.some((e) => e.startsWith("worker ") && url(e).endsWith("/pkg/model/default.wrn"));
  check(
    workerSaw && foreign.length === 0,
    `${engine} demo: ${seen.resources.length} requests (the worker's model fetch among them: ${workerSaw}), ` +
      `${foreign.length} off-origin${foreign.length ? `: ${foreign.join(", ")}` : ""}`,
  );
  check(
    seen.violations.length === 0,
    `${engine} demo: no CSP violation${seen.violations.length ? `: ${seen.violations.join(" | ")}` : ""}`,
  );
}

const t0 = Date.now();
for (const engine of engines) {
  const why = absent(engine);
  if (why) {
    missing(`${engine}: ${why}`);
    continue;
  }
  let pkg;
  await session(
    engine,
    "the package (pkg/ by URL, no bundler)",
    `${pkgServer.origin}/tests/engines/page.html`,
    { server: pkgServer.server, camera: true, global: "checks" },
    async (page) => {
      pkg = await packageChecks(engine, page, { soak: engine === "webkit" });
    },
  );
  if (engine === "webkit") {
    // JavaScriptCore itself runs the threaded build; WebKitGTK just doesn't
    // expose SharedArrayBuffer. JSC_useSharedArrayBuffer=1 switches it on, as
    // Safari does on a cross-origin isolated page.
    const options = { server: pkgServer.server, env: { JSC_useSharedArrayBuffer: "1" }, global: "checks" };
    await session(
      engine,
      "threads with SharedArrayBuffer switched on",
      `${pkgServer.origin}/tests/engines/page.html`,
      options,
      async (page) => {
        const probe = await call(page, "probe");
        const want = Math.min(probe.cores, 4);
        const w = await call(page, "worker");
        const coffee = w.results.filter((r) => r.top);
        check(
          probe.sharedArrayBuffer === "function" && w.threads === want && w.backend === "cpu-simd-threads",
          `${engine} + JSC_useSharedArrayBuffer=1: worker mode ${w.backend}, ${w.threads} threads (want ${want}); ` +
            `coffee ${coffee.map((r) => ms(r.ms)).join(", ")}`,
        );
        checkResults(engine, "worker, threaded", w);
      },
    );
  }
  if (!pkg) {
    fail(`${engine}: the demo was not tested: the package checks did not finish`);
    continue;
  }
  await session(
    engine,
    "the demo page (as `make demo` serves it)",
    `${demoServer.origin}/`,
    { server: demoServer.server, camera: true, global: "demoTest" },
    (page) => demoChecks(engine, page, pkg),
  );
}
console.log(`engines: ${engines.join(", ")} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
pkgServer.server.close();
demoServer.server.close();
foreignServer.server.close();
finish("engines");
