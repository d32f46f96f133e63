// The demo page end to end in headless Chromium, served by the demo's own
// server (CSP, COOP/COEP). The oracle for "the expected label" is the native
// CLI on the same photo and model. Screenshots go to artifacts/. Test hooks
// (instrument.mjs) are put in from outside; the page carries no test code.
//
// No browser installed: with CI=true that FAILS the test; elsewhere it is
// reported and the test is skipped. A browser that is there but fails to
// start always fails it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, MODELS, ROOT } from "../../testkit/common.mjs";
import { DEMO_CSP, DEMO_MOUNTS, serve } from "../../scripts/serve.mjs";
import { CHROMIUM, openPage } from "../../testkit/chromium.mjs";
import { CI, check, fail, finish, missing, pass } from "../../testkit/report.mjs";
import { y4m } from "./y4m.mjs";
import { MAX_PHOTOS } from "../../www/gallery.js";
import {
  galleryCaptions,
  labelledControls,
  tabStops,
  waitForBars,
  waitForError,
  waitForNotice,
} from "./page_checks.mjs";
import { instrument, packageWorker } from "./instrument.mjs";
import { evalInLaterTask } from "../../testkit/eval_probe.mjs";

const PHOTOS = join(ROOT, ".cache", "photos");
const ARTIFACTS = join(ROOT, "artifacts");
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };

if (!existsSync(CHROMIUM)) {
  missing(`demo test: no browser at ${CHROMIUM}`);
  finish("demo");
}

// The CLI's best label for a photo.
function cliTop1(photo, model = "default.wrn") {
  const args = ["classify", join(PHOTOS, photo), "--model", join(MODELS, model), "--top", "1", "--json"];
  return JSON.parse(execFileSync(CLI, args))[0].top[0].label;
}
const COFFEE = cliTop1("coffee.png");
const CAT = cliTop1("chelsea.png");

mkdirSync(ARTIFACTS, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), "webresnet-demo-"));
const { server, origin } = await serve({ mounts: DEMO_MOUNTS, csp: DEMO_CSP });

// ---- what the server sends: the demo's policy (docs/security.md), spelled out
// here, not taken from serve.mjs, so that loosening it there fails, on the page and
// on the worker script, which runs under its own response's policy ----
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:";
for (const path of ["/", "/pkg/worker.js"]) {
  const got = (await fetch(`${origin}${path}`)).headers.get("content-security-policy");
  check(got === CSP, `${path} is served with the CSP "${CSP}"${got === CSP ? "" : `; got "${got}"`}`);
}
{
  const html = await (await fetch(`${origin}/`)).text();
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  const inline = scripts.filter(([, attrs, body]) => !/\ssrc=/.test(attrs) || body.trim() !== "");
  const handlers = html.match(/\son[a-z]+\s*=/gi) ?? [];
  const jsUrls = html.match(/javascript:/gi) ?? [];
  check(
    scripts.length > 0 && inline.length + handlers.length + jsUrls.length === 0,
    `index.html: ${scripts.length} script(s) from files; ${inline.length} inline, ` +
      `${handlers.length} event-handler attributes, ${jsUrls.length} javascript: URLs`,
  );
}

// Every request any page of a session makes, workers' included, is checked
// here; one bound elsewhere is aborted and counted as a failure.
// `seen` shows the guard covers workers too: the model is fetched in one.
// CSP violations are caught from the console, where Chromium reports a
// page's and the hooks (instrument.mjs) report the worker's too.
const foreign = [];
const seen = new Set();
const cspViolations = new Set();
const sameOrigin = (url) => url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:");
const guard = async (context) => {
  await context.route("**/*", (route) => {
    const url = route.request().url();
    seen.add(new URL(url).pathname);
    if (sameOrigin(url)) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  await instrument(context, origin, (url) => seen.add(new URL(url).pathname));
  context.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.add(m.text());
  });
};

// Opens the demo with `query` and runs `body(page)`.
async function session(name, query, options, body) {
  console.log(`-- ${name}`);
  let browser;
  try {
    browser = await openPage(`${origin}/${query}`, {
      viewport: DESKTOP,
      beforeGoto: guard,
      ready: () => document.readyState === "complete",
      ...options,
    });
  } catch (e) {
    fail(`${name}: the page did not open: ${e.message.split("\n")[0]}`);
    return;
  }
  try {
    await body(browser.page);
  } catch (e) {
    fail(`${name}: ${e.message.split("\n")[0]}`);
  } finally {
    await browser.close();
  }
}

// The package's worker runs under the CSP (a string is not run as code
// there), and its violations reach the console, so the last check covers the
// worker too. The eval runs in a later task: code the test evaluates directly
// is exempt from the page's policy. The probe's own report is taken out again.
async function probeWorkerCsp(page) {
  const outcome = await packageWorker(page).evaluate(evalInLaterTask);
  const report = "Content Security Policy violation in the worker: script-src eval";
  let reported = false;
  for (let i = 0; i < 100 && !reported; i++) {
    await new Promise((tick) => setTimeout(tick, 50));
    reported = cspViolations.delete(report);
  }
  check(outcome === "EvalError" && reported, `eval in the worker: ${outcome}; reported: ${reported}`);
}

// Waits for the model load in progress to end; throws with the page's
// message unless a model is ready.
async function modelLoaded(page) {
  await page.waitForFunction(() => document.body.dataset.model !== "loading", null, { timeout: 5 * 60_000 });
  const state = await page.evaluate(() => document.body.dataset.model);
  if (state !== "ready") throw new Error(`the model did not load: ${await page.textContent("#error")}`);
}

// Hands the page a photo the way a drop or a paste does: a DataTransfer
// holding the file (called `name`), on the event the page listens for.
// `duringFrame`: only once the camera has just sent a frame to be
// classified, counting the calls in flight afresh from there.
const dispatchPhoto = (page, photo, how, { name = photo, duringFrame = false } = {}) =>
  page.evaluate(
    async ({ photo, how, name, duringFrame }) => {
      const blob = await (await fetch(`/photos/${photo}`)).blob();
      if (duringFrame) {
        await new Promise((posted) => document.addEventListener("classify-posted", posted, { once: true }));
        window.workerCalls.max = window.workerCalls.inFlight;
      }
      const data = new DataTransfer();
      data.items.add(new File([blob], name, { type: blob.type }));
      const init = { bubbles: true, cancelable: true };
      const event =
        how === "drop"
          ? new DragEvent("drop", { ...init, dataTransfer: data })
          : new ClipboardEvent("paste", { ...init, clipboardData: data });
      (how === "drop" ? document.getElementById("drop") : document).dispatchEvent(event);
    },
    { photo, how, name, duringFrame },
  );

const upload = (page, photo) => page.setInputFiles("#file", join(PHOTOS, photo));

// Several files picked at once: the first in the photo view, and each in the
// gallery captioned with the top class the photo view gives it (a file that is
// no image says so); a thumbnail opens its photo; one photo after that hides
// the gallery.
async function galleryChecks(page, notAnImage) {
  const png = (name) => ({ name, mimeType: "image/png", buffer: readFileSync(join(PHOTOS, name)) });
  await page.setInputFiles("#file", [png("chelsea.png"), png("coffee.png"), notAnImage]);
  const catTop = await waitForBars(page, "#image-top", "chelsea.png");
  const items = await galleryCaptions(page, 3);
  const shown = items.map((i) => `${i.name}: ${i.caption}${i.current ? " (shown)" : ""}`).join(", ");
  const [cat, coffee, notes] = items;
  check(
    cat.top === catTop[0] && cat.current && coffee.top !== "" && notes.top === "" && /not an image/.test(notes.caption),
    `three files at once: chelsea.png in the photo view (top-1 ${catTop[0]}); gallery [${shown}]`,
  );
  await page.click('#gallery li[data-name="coffee.png"] button');
  const coffeeTop = await waitForBars(page, "#image-top", "coffee.png");
  const current = await page.getAttribute('#gallery li[data-name="coffee.png"]', "aria-current");
  check(
    coffeeTop[0] === coffee.top && coffeeTop.includes(COFFEE) && current === "true",
    `its coffee.png thumbnail opens it: top-1 ${coffeeTop[0]} (caption ${coffee.top}), "${COFFEE}" in top-5, marked current`,
  );
  // Another model: the gallery is captioned again in place, coffee.png still
  // the one shown, and the photo view answers with the new model.
  await page.selectOption("#model", "int8");
  await modelLoaded(page);
  // The photo view's caption comes last, from the photo view's answer.
  const relabelled = await galleryCaptions(page, 3);
  const int8Top = await waitForBars(page, "#image-top", "coffee.png");
  const want = ["chelsea.png", "coffee.png"].map((photo) => cliTop1(photo, "default-int8.wrn"));
  check(
    relabelled[0].top === want[0] &&
      relabelled[1].top === want[1] &&
      relabelled[1].top === int8Top[0] &&
      relabelled.map((i) => i.current).join() === "false,true,false",
    `int8 model loaded: gallery re-captioned [${relabelled.map((i) => `${i.name}: ${i.caption}${i.current ? " (shown)" : ""}`)}], ` +
      `CLI ${want.join(", ")}; photo view coffee.png top-1 ${int8Top[0]}`,
  );
  await page.selectOption("#model", "default");
  await modelLoaded(page);
  const many = Array.from({ length: MAX_PHOTOS + 2 }, (_, i) => ({ ...png("coffee.png"), name: `coffee-${i}.png` }));
  await page.setInputFiles("#file", many);
  const kept = await page.$$eval("#gallery li", (items) => items.length);
  const note = await page.textContent("#gallery-note");
  check(
    kept === MAX_PHOTOS && note.includes(`first ${MAX_PHOTOS} of ${many.length}`),
    `${many.length} files at once: ${kept} thumbnails; the page says "${note}"`,
  );
  await upload(page, "chelsea.png");
  await waitForBars(page, "#image-top", "chelsea.png");
  const hidden = await page.waitForSelector("#gallery", { state: "hidden", timeout: 10_000 }).then(
    () => true,
    () => false,
  );
  check(hidden, "one photo after them hides the gallery");
}

// ---- CPU path: inputs, errors, keyboard, layout; also grabs the webcam frames ----
let cameraFile = null;
await session("photos on the CPU path", "?backend=cpu", {}, async (page) => {
  await modelLoaded(page);
  // Served with COOP/COEP and run in a worker, the CPU path is threaded
  // wherever there is more than one core.
  const running = await page.textContent("#backend");
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const threads = Math.min(cores, 4);
  check(
    running === (threads > 1 ? `CPU, wasm SIMD, ${threads} threads` : "CPU, wasm SIMD, 1 thread"),
    `model ready; running on: ${running} (${cores} cores), in ${packageWorker(page).url()}`,
  );
  await probeWorkerCsp(page);

  await upload(page, "coffee.png");
  let top = await waitForBars(page, "#image-top", "coffee.png");
  check(top.includes(COFFEE), `upload coffee.png: CLI's "${COFFEE}" in top-5 [${top.join(", ")}]`);
  const first = await page.textContent("#first-result");
  check(/\d/.test(first), `time to first result shown: ${first}; latency ${await page.textContent("#latency")}`);

  const notes = { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not a picture") };
  await page.setInputFiles("#file", notes);
  const msg = await waitForError(page, /not an image/);
  pass(`non-image file: "${msg}"`);
  await upload(page, "chelsea.png");
  top = await waitForBars(page, "#image-top", "chelsea.png");
  const cleared = await page.isHidden("#error");
  check(top.includes(CAT) && cleared, `good file after the bad one: "${CAT}" in [${top}], error cleared: ${cleared}`);

  await dispatchPhoto(page, "coffee.png", "drop");
  top = await waitForBars(page, "#image-top", "coffee.png");
  check(top.includes(COFFEE), `dropped coffee.png: "${COFFEE}" in top-5`);
  await dispatchPhoto(page, "chelsea.png", "paste");
  top = await waitForBars(page, "#image-top", "pasted image");
  check(top.includes(CAT), `pasted chelsea.png: "${CAT}" in top-5`);
  await galleryChecks(page, notes);

  // A model file that is no model: a readable message, and the old model stays.
  await page.selectOption("#model", "own");
  const broken = { name: "broken.onnx", mimeType: "application/octet-stream", buffer: Buffer.alloc(4096, 7) };
  await page.setInputFiles("#own-model", broken);
  const modelMsg = await waitForError(page, /not a model/);
  pass(`bad model file: "${modelMsg}"`);
  check((await page.inputValue("#model")) === "default", "model picker back on the model in use");

  // Keyboard alone: Tab reaches every control, Enter on a sample classifies it.
  const stops = await tabStops(page, 40);
  const want = ["model", "backend:cpu", "file", "sample:coffee.png", "camera-toggle"];
  const missing = want.filter((w) => !stops.includes(w));
  check(missing.length === 0, `Tab reaches ${want.join(", ")}${missing.length ? `; missing ${missing}` : ""}`);
  await page.focus('button[data-photo="coffee.png"]');
  await page.keyboard.press("Enter");
  top = await waitForBars(page, "#image-top", "coffee.png");
  check(top.includes(COFFEE), `Enter on the coffee sample: "${COFFEE}" in top-5`);
  const unlabelled = await labelledControls(page);
  check(unlabelled.length === 0, `every control has a label${unlabelled.length ? `; not: ${unlabelled}` : ""}`);

  for (const [name, size] of [
    ["1280", DESKTOP],
    ["375", PHONE],
  ]) {
    await page.setViewportSize(size);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= size.width, `at ${size.width} px nothing overflows sideways (page width ${width})`);
    await page.screenshot({ path: join(ARTIFACTS, `demo-${name}.png`), fullPage: true });
  }
  pass(`screenshots: artifacts/demo-1280.png, artifacts/demo-375.png`);

  // No camera in this browser: a message, and the page goes on working.
  await page.click("#camera-toggle");
  const camMsg = await waitForError(page, /camera/i);
  pass(`camera unavailable: "${camMsg}"`);
  check((await page.textContent("#camera-toggle")) === "Start camera", "camera button back to Start");

  // The fake camera's picture: coffee.png, cropped to 4:3 as a camera would see it.
  const frame = await page.evaluate(async () => {
    const bitmap = await createImageBitmap(await (await fetch("/photos/coffee.png")).blob());
    const [w, h] = [640, 480];
    const scale = Math.max(w / bitmap.width, h / bitmap.height);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext("2d");
    const [sw, sh] = [bitmap.width * scale, bitmap.height * scale];
    ctx.drawImage(bitmap, (w - sw) / 2, (h - sh) / 2, sw, sh);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    let s = "";
    for (let i = 0; i < rgba.length; i += 0x8000) s += String.fromCharCode(...rgba.subarray(i, i + 0x8000));
    return { w, h, b64: btoa(s) };
  });
  cameraFile = join(tmp, "coffee.y4m");
  writeFileSync(cameraFile, y4m(Buffer.from(frame.b64, "base64"), frame.w, frame.h, 2));

  // The real ResNet-50: its download shows progress, then it classifies.
  await page.evaluate(() => {
    window.progressTexts = [];
    const label = document.getElementById("progress-label");
    new MutationObserver(() => window.progressTexts.push(label.textContent)).observe(label, { childList: true });
  });
  await page.selectOption("#model", "opennsfw");
  await modelLoaded(page);
  const texts = await page.evaluate(() => window.progressTexts);
  const download = texts.filter((t) => /^Downloading the model \(\d+\.\d of \d+\.\d MB\)/.test(t));
  check(
    download.length > 0 && texts.some((t) => t.startsWith("Warming up")),
    `opennsfw progress: ${download.length} download steps (last "${download.at(-1)}"), ` +
      `then ${[...new Set(texts.filter((t) => !download.includes(t)))].join(", ")}`,
  );
  const sfw = cliTop1("chelsea.png", "opennsfw.wrn");
  await upload(page, "chelsea.png");
  top = await waitForBars(page, "#image-top", "chelsea.png");
  const backend = await page.textContent("#backend");
  check(top[0] === sfw, `opennsfw on chelsea.png: top-1 "${top[0]}", CLI "${sfw}"; ${backend}`);

  // The int8 choice (the default network with int8 weights) answers as the CLI does with that file.
  await page.selectOption("#model", "int8");
  await modelLoaded(page);
  const int8Top1 = cliTop1("coffee.png", "default-int8.wrn");
  await upload(page, "coffee.png");
  top = await waitForBars(page, "#image-top", "coffee.png");
  check(top[0] === int8Top1, `int8 model on coffee.png: top-1 "${top[0]}", CLI "${int8Top1}"`);

  // A choice made while a model loads cancels that load: ResNet-50, then at
  // once the default. ResNet-50 never reaches its warm-up, and no error shows.
  await page.evaluate(() => (window.progressTexts = []));
  await page.selectOption("#model", "opennsfw");
  await page.waitForFunction(() => window.progressTexts.some((t) => /^Downloading the model \(/.test(t)));
  await page.selectOption("#model", "default");
  await page.waitForFunction(
    (name) => document.body.dataset.model === "ready" && document.getElementById("model-name").textContent === name,
    "EfficientNet-Lite0, ImageNet-1k",
    { timeout: 5 * 60_000 },
  );
  const switchTexts = await page.evaluate(() => window.progressTexts);
  // Each load starts with the bare "Downloading the model…".
  const starts = switchTexts.flatMap((t, i) => (t === "Downloading the model…" ? [i] : []));
  const cancelled = switchTexts.slice(0, starts[1]);
  const error = await page.textContent("#error");
  check(
    starts.length === 2 &&
      !cancelled.some((t) => t.startsWith("Warming up")) &&
      switchTexts.slice(starts[1]).some((t) => t.startsWith("Warming up")) &&
      !error,
    `ResNet-50 cancelled by choosing the default during its download: its load reached "${cancelled.at(-1)}", ` +
      `then the default loaded (${switchTexts.length - starts[1]} progress texts); error shown: "${error}"`,
  );

  // "Load your own": an ONNX file from disk (a random-weight test model, so
  // only that it loads and answers is checked).
  await page.selectOption("#model", "own");
  await page.setInputFiles("#own-model", join(MODELS, "mobilenet_small.onnx"));
  await modelLoaded(page);
  const name = await page.textContent("#model-name");
  await upload(page, "coffee.png");
  top = await waitForBars(page, "#image-top", "coffee.png");
  check(name === "mobilenet_small.onnx" && top.length === 5, `own model ${name}: top-5 [${top}]`);

  // "Benchmark this device" on a small model (quick on SwiftShader): each
  // backend timed, "auto"'s choice, the JSON to copy.
  await page.setInputFiles("#own-model", join(MODELS, "torch_plumbing.onnx"));
  await page.waitForFunction(() => document.getElementById("model-name").textContent === "torch_plumbing.onnx");
  await modelLoaded(page);
  const t0 = Date.now();
  await page.click("#bench-run");
  await page.waitForFunction(() => !document.getElementById("bench-json").hidden, null, { timeout: 5 * 60_000 });
  const benchText = await page.textContent("#bench-json");
  const bench = JSON.parse(benchText);
  const on = (b) => bench.backends.find((x) => x.backend === b);
  const timed = (r) => r && !r.error && r.coldMs > 0 && r.warmMs.runs.length === bench.runs && r.warmMs.median > 0;
  const gpu = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  check(
    bench.model === "torch_plumbing.onnx" &&
      timed(on("cpu")) &&
      /^cpu-simd/.test(on("cpu").ran) &&
      (gpu ? timed(on("webgpu")) && on("webgpu").ran === "webgpu" : !!on("webgpu")?.error) &&
      typeof bench.auto.reason === "string" &&
      bench.auto.reason.length > 0,
    `benchmark button on ${bench.model} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${(await page.textContent("#bench-summary")).slice(0, 400)}`,
  );
  if (gpu)
    check(
      /^cpu-simd/.test(bench.auto.backend) && /software renderer|fallback adapter/.test(bench.auto.reason),
      `benchmark: "auto" takes ${bench.auto.backend} on this adapter (${on("webgpu").adapter}): ${bench.auto.reason}`,
    );
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  await page.click("#bench-copy");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(
    copied === benchText,
    `benchmark: "Copy the results" puts the JSON (${copied.length} characters) on the clipboard`,
  );
});

// A photo dropped while the camera runs: its classify call overlaps a
// frame's in the worker, and each gets its own answer. The drop follows a
// frame's departure, so the two overlap unless the photo's decoding outlasts
// the frame's inference; a later try covers that.
async function photoDuringFrames(page) {
  await page.evaluate(() => {
    const list = document.getElementById("camera-top");
    window.cameraTops = [];
    const labels = () => [...list.querySelectorAll(".label")].map((e) => e.textContent);
    new MutationObserver(() => window.cameraTops.push(labels())).observe(list, { childList: true });
  });
  const photoTops = [];
  let overlap = 0;
  for (let i = 1; i <= 3 && overlap < 2; i++) {
    const name = `chelsea-${i}.png`; // a new name each time: the bars show which photo they answer
    await dispatchPhoto(page, "chelsea.png", "drop", { name, duringFrame: true });
    photoTops.push(await waitForBars(page, "#image-top", name));
    overlap = await page.evaluate(() => window.workerCalls.max);
  }
  // The camera goes on afterwards.
  const n = await page.evaluate(() => window.cameraTops.length);
  await page.waitForFunction((n) => window.cameraTops.length > n, n, { timeout: 120_000 });
  const cameraTops = await page.evaluate(() => window.cameraTops);
  check(overlap >= 2, `a photo dropped during live frames: ${overlap} classify calls in flight at once`);
  check(
    photoTops.every((t) => t.includes(CAT)),
    `the photo's answer, ${photoTops.length} time(s): "${CAT}" in [${photoTops.at(-1).join(", ")}]`,
  );
  check(
    cameraTops.every((t) => t.includes(COFFEE) && !t.includes(CAT)),
    `the camera's ${cameraTops.length} answers meanwhile all show "${COFFEE}", none "${CAT}"`,
  );
}

// Models switched while the camera runs: the classifier being replaced is
// disposed under a frame, which is dropped without a word, and the camera
// goes on with the new model. It switches until a disposal meets a frame in
// flight (the first almost always does: the camera is seldom idle).
// Teaching from the live camera (the fake device shows coffee.png) and from a
// photo: the taught label shows live; the head survives a reload (IndexedDB)
// and goes out and comes back in as a file.
async function teachDuringFrames(page) {
  await page.fill("#teach-name", "my mug");
  await page.hover("#teach-capture");
  await page.mouse.down();
  await page.waitForFunction(
    () => /my mug: ([3-9]|\d\d+) examples/.test(document.getElementById("teach-classes").textContent),
    null,
    {
      timeout: 120_000,
    },
  );
  await page.mouse.up();
  await page.fill("#teach-name", "my cat");
  await page.setInputFiles("#teach-photos", join(PHOTOS, "chelsea.png"));
  await page.waitForFunction(
    () => /my cat: 1 example/.test(document.getElementById("teach-classes").textContent),
    null,
    {
      timeout: 120_000,
    },
  );
  const taught = await page.textContent("#teach-classes");
  const live = await waitForBars(page, "#teach-live", null, "my mug");
  check(
    live[0] === "my mug",
    `taught from the camera and a photo (${taught}); live on the camera: [${live.join(", ")}]`,
  );

  const download = page.waitForEvent("download");
  await page.click("#teach-export");
  const file = await (await download).path();
  const head = JSON.parse(readFileSync(file, "utf8"));
  check(
    head.format === "webresnet-head" && head.classes.map((c) => c.label).join() === "my mug,my cat",
    `exported head: ${head.classes.map((c) => `${c.label} (${c.examples.length})`).join(", ")}`,
  );
  await page.click("#teach-clear");
  await page.waitForFunction(() => !document.getElementById("teach-classes").children.length);
  await page.setInputFiles("#teach-import", file);
  await page.waitForFunction(() => /my cat/.test(document.getElementById("teach-classes").textContent));
  // A second tab of the same browser profile finds the head in IndexedDB.
  const again = await page.context().newPage();
  try {
    await again.goto(page.url());
    await modelLoaded(again);
    await again.waitForFunction(() => /my mug/.test(document.getElementById("teach-classes").textContent), null, {
      timeout: 30_000,
    });
    pass(`cleared, imported back, and there in a new tab: ${await again.textContent("#teach-classes")}`);
  } finally {
    await again.close();
  }
}

async function switchModelsDuringFrames(page) {
  const models = [
    ["own", "mobilenet_small.onnx"],
    ["default", "EfficientNet-Lite0, ImageNet-1k"],
  ];
  let switches = 0;
  let atDispose = 0;
  const names = [];
  while (atDispose === 0 && switches < 4) {
    const [key, name] = models[switches % 2];
    await page.selectOption("#model", key);
    if (switches++ === 0) await page.setInputFiles("#own-model", join(MODELS, name));
    await page.waitForFunction(
      (name) => document.body.dataset.model === "ready" && document.getElementById("model-name").textContent === name,
      name,
      { timeout: 5 * 60_000 },
    );
    const n = await page.evaluate(() => window.cameraTops.length);
    await page.waitForFunction((n) => window.cameraTops.length > n, n, { timeout: 120_000 });
    atDispose = await page.evaluate(() => window.workerCalls.atDispose);
    names.push(name);
  }
  const error = (await page.isVisible("#error")) ? await page.textContent("#error") : "";
  check(
    atDispose > 0 && error === "",
    `switched to ${names.join(", then ")} during live frames: ${atDispose} frame(s) in flight on the disposed ` +
      `classifier, the camera answers on the new one, no error shown${error ? `; error: ${error}` : ""}`,
  );
}

// ---- fake webcam ----
if (cameraFile) {
  const args = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${cameraFile}`,
  ];
  await session("live camera (fake device showing coffee.png)", "?backend=cpu", { args }, async (page) => {
    await modelLoaded(page);
    await page.focus("#camera-toggle"); // the keyboard starts it, as it does everything else
    await page.keyboard.press("Enter");
    const top = await waitForBars(page, "#camera-top", null, COFFEE);
    pass(`live top-5 shows "${COFFEE}": [${top.join(", ")}]`);
    await page.waitForFunction(() => Number.parseFloat(document.getElementById("fps").textContent) > 0, null, {
      timeout: 120_000,
    });
    pass(`FPS ${await page.textContent("#fps")}, latency per frame ${await page.textContent("#frame-latency")}`);
    const alone = await page.evaluate(() => window.workerCalls.max);
    check(alone === 1, `the camera alone keeps one frame in flight (at most ${alone} classify calls at once)`);
    await photoDuringFrames(page);
    // The smoothing control restarts the loop with the new weight; results go on.
    const before = await page.evaluate(() => window.cameraTops.length);
    await page.$eval("#smoothing", (el) => {
      el.value = "0.9";
      el.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await page.waitForFunction((n) => window.cameraTops.length > n + 2, before, { timeout: 120_000 });
    const shown = await page.textContent("#smoothing-value");
    const smoothedTop = await waitForBars(page, "#camera-top", null, COFFEE);
    check(
      shown === "0.90",
      `smoothing set to ${shown}: the camera goes on ("${COFFEE}" in [${smoothedTop.join(", ")}])`,
    );
    await teachDuringFrames(page);
    // "Why?": the heatmap over the live camera, and over the last photo, shown again.
    await page.check("#why");
    const heatOf = (id) =>
      page
        .waitForFunction((id) => document.getElementById(id).dataset.heatmap, id, { timeout: 120_000 })
        .then((h) => h.jsonValue());
    const [cameraHeat, photoHeat] = [await heatOf("camera-heat"), await heatOf("preview")];
    // Unticked while a frame's explanation is in flight: when it is answered,
    // the overlay must stay gone. The worker answers in order, so two more
    // camera results come after it.
    await page.evaluate(
      () =>
        new Promise((unticked) =>
          document.addEventListener(
            "explain-posted",
            () => {
              document.getElementById("why").click();
              unticked();
            },
            { once: true },
          ),
        ),
    );
    const n = await page.evaluate(() => window.cameraTops.length);
    await page.waitForFunction((n) => window.cameraTops.length > n + 1, n, { timeout: 120_000 });
    const after = await page.evaluate(() => document.getElementById("camera-heat").dataset.heatmap ?? "none");
    check(
      cameraHeat === COFFEE && photoHeat === "tiger cat" && after === "none",
      `Why?: heatmaps of "${cameraHeat}" over the camera and of "${photoHeat}" over the photo; ` +
        `unticked with a frame's explanation in flight, the camera's heatmap after it is answered: ${after}`,
    );
    await page.screenshot({ path: join(ARTIFACTS, "demo-camera-1280.png"), fullPage: true });
    await switchModelsDuringFrames(page);
    await page.click("#camera-toggle");
    check((await page.textContent("#camera-toggle")) === "Start camera", "camera stops");
  });
} else fail("no webcam file was written, so the camera was not tested");

// ---- WebGPU (SwiftShader here) under "auto": "auto" takes the CPU over an
// emulated GPU and says why; with WebGPU remembered as its choice, the status
// names the adapter; the camera is refused; the GPU device is lost, then lost
// for good ----
// A (fake) camera is there, but the permission prompt is answered "no".
const denyCamera = ["--use-fake-device-for-media-stream", "--deny-permission-prompts"];
await session("WebGPU; camera permission denied; GPU device lost", "", { args: denyCamera }, async (page) => {
  await modelLoaded(page);
  if (!(await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter())))) {
    if (CI) fail("WebGPU checks: no adapter in headless Chromium");
    else console.log(`SKIP WebGPU: ${await page.textContent("#notice")}`);
    return;
  }
  const chosen = await page.textContent("#backend");
  const why = await page.textContent("#backend-reason");
  const notice = (await page.isVisible("#notice")) ? await page.textContent("#notice") : "";
  check(
    /^CPU/.test(chosen) && /software renderer|fallback adapter/.test(why) && /^Auto chose the CPU path/.test(notice),
    `auto on an emulated GPU runs on: ${chosen}; why: "${why}"; notice: "${notice}"`,
  );
  // "Auto"'s remembered choice (localStorage, as the package documents it) set to WebGPU.
  await page.evaluate(() => {
    const record = JSON.parse(localStorage.getItem("webresnet:backend"));
    localStorage.setItem("webresnet:backend", JSON.stringify({ ...record, backend: "webgpu" }));
  });
  await page.reload();
  await modelLoaded(page);
  const backend = await page.textContent("#backend");
  const loadTime = await page.textContent("#load-time");
  const remembered = await page.textContent("#backend-reason");
  check(
    /^WebGPU on \S/.test(backend) && /remembered/.test(remembered),
    `auto with WebGPU remembered runs on: ${backend} (${remembered}); model ready in ${loadTime}`,
  );

  await page.click("#camera-toggle");
  const denied = await waitForError(page, /denied/);
  pass(`camera permission denied: "${denied}"`);
  check((await page.textContent("#camera-toggle")) === "Start camera", "camera button back to Start");
  await upload(page, "coffee.png");
  let top = await waitForBars(page, "#image-top", "coffee.png");
  let cleared = await page.isHidden("#error");
  check(top.includes(COFFEE) && cleared, `then a photo: "${COFFEE}" in [${top.join(", ")}], error cleared: ${cleared}`);

  // The device is lost; a new one opens, and the page says so.
  const loseGpu = (refuseAdapters) => packageWorker(page).evaluate((r) => self.loseGpu(r), refuseAdapters);
  let lost = await loseGpu(false);
  await upload(page, "chelsea.png");
  top = await waitForBars(page, "#image-top", "chelsea.png");
  let now = await page.textContent("#backend");
  check(
    lost > 0 && top.includes(CAT) && /^WebGPU on/.test(now),
    `${lost} GPU device(s) lost: the next photo gets "${CAT}" [${top.join(", ")}] on a new device (${now})`,
  );
  pass(`notice: "${await waitForNotice(page, /new one was opened/)}"`);

  // Lost again, and no adapter is left: the CPU takes over, and the page says so.
  lost = await loseGpu(true);
  await upload(page, "coffee.png");
  top = await waitForBars(page, "#image-top", "coffee.png");
  now = await page.textContent("#backend");
  check(
    lost > 0 && top.includes(COFFEE) && /^CPU/.test(now),
    `lost with no GPU left: "${COFFEE}" in [${top.join(", ")}], status now "${now}"`,
  );
  const told = await waitForNotice(page, /GPU stopped working.*runs on the CPU/);
  cleared = await page.isHidden("#error");
  check(cleared, `notice: "${told}"; no error shown`);
  await page.screenshot({ path: join(ARTIFACTS, "demo-gpu-lost-1280.png"), fullPage: true });
  await page.click('button[data-photo="chelsea.png"]');
  top = await waitForBars(page, "#image-top", "chelsea.png");
  check(top.includes(CAT), `the page goes on: the cat sample gets "${CAT}" on the CPU`);
});

// ---- no WebGPU adapter: "auto" falls back to the CPU and says why ----
// The same browser has two synthetic fake cameras (a file gives only one), for the camera selector.
const twoCameras = ["--use-fake-device-for-media-stream=device-count=2", "--use-fake-ui-for-media-stream"];
await session("WebGPU unavailable; two cameras", "", { webgpu: false, args: twoCameras }, async (page) => {
  await modelLoaded(page);
  const backend = await page.textContent("#backend");
  check(/CPU/.test(backend), `auto without an adapter runs on: ${backend}`);
  const notice = (await page.isVisible("#notice")) ? await page.textContent("#notice") : "";
  check(/WebGPU is unavailable/.test(notice), `notice: "${notice}"`);
  await upload(page, "coffee.png");
  const top = await waitForBars(page, "#image-top", "coffee.png");
  check(top.includes(COFFEE), `CPU fallback classifies coffee.png: "${COFFEE}" in [${top.join(", ")}]`);

  await page.click("#camera-toggle");
  await waitForBars(page, "#camera-top", null);
  const cams = await page.$$eval("#camera-select option", (os) => os.map((o) => o.value));
  check(cams.length === 2 && (await page.isVisible("#camera-select")), `camera selector offers ${cams.length} cameras`);
  const current = await page.inputValue("#camera-select");
  const other = cams.find((c) => c !== current);
  await page.selectOption("#camera-select", other);
  await waitForBars(page, "#camera-top", null);
  const using = await page.evaluate(
    () => document.querySelector("video").srcObject.getVideoTracks()[0].getSettings().deviceId,
  );
  check(using === other, `switched to the other camera, and it is classified live`);
});

server.close();
rmSync(tmp, { recursive: true, force: true });
check(seen.has("/pkg/model/default.wrn"), "the request guard saw the model fetched by the worker");
check(foreign.length === 0, `no request left ${origin}${foreign.length ? `: ${foreign.join(", ")}` : ""}`);
check(cspViolations.size === 0, `no CSP violation${cspViolations.size ? `: ${[...cspViolations].join(" | ")}` : ""}`);
finish("demo");
