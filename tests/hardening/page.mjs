// Hardening test page: the package from pkg/ as a page would use it, under a
// lost GPU device, a long webcam loop, overlapping calls and dispose().
// Cases are window.* functions for the Playwright driver (run.mjs); results,
// errors included, come back as plain data (a rejected evaluate loses `code`).
import { Classifier } from "/pkg/index.js";
import { photo, rememberWebGpu, wrap } from "/testkit/page.mjs";

const spy = globalThis.gpuSpy; // from gpu_spy.js; undefined without WebGPU
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const simple = (top) => top.map(({ index, label, probability }) => ({ index, label, probability }));
const codeOf = (e) => e?.code ?? `not a WebResnetError: ${e}`;

// The fake camera Chromium offers with --use-fake-device-for-media-stream:
// 640x480, a moving pattern and a frame counter, so every frame differs.
let camera;
async function webcam() {
  if (camera) return camera;
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  await video.play();
  if (video.readyState < 2) await new Promise((r) => video.addEventListener("loadeddata", r, { once: true }));
  camera = video;
  return video;
}

// A well-formed top-k: k entries, finite probabilities in [0, 1], best first.
function wellFormed(top, k) {
  return (
    Array.isArray(top) &&
    top.length === k &&
    top.every(
      ({ probability: q }, i) => Number.isFinite(q) && q >= 0 && q <= 1 && (i === 0 || q <= top[i - 1].probability),
    )
  );
}

// 1. GPU loss. The driver destroys the device (in the page, or in the worker
// in worker mode) between lossOpen and each lossStep. "auto" is on WebGPU by
// a remembered choice: its move to the CPU is what the last step checks.
let lossClf;
let lossChanges;
window.lossOpen = wrap(async ({ model, worker }) => {
  lossChanges = [];
  await rememberWebGpu(Classifier, model);
  lossClf = await Classifier.create({ model, backend: "auto", worker, onBackendChange: (c) => lossChanges.push(c) });
  return { backend: lossClf.backend, top: simple(await lossClf.classify(await photo("coffee.png"))) };
});
window.lossStep = wrap(async ({ last }) => {
  const top = simple(await lossClf.classify(await photo("coffee.png")));
  await sleep(0); // the change is told in a microtask after the call (worker mode: a message before its reply)
  const out = { top, backend: lossClf.backend, fallbackReason: lossClf.fallbackReason, changes: lossChanges.splice(0) };
  if (last) lossClf.dispose();
  return out;
});

// 2. Soak: `n` classify calls in a row on live webcam frames (the <video>, and
// every 5th call a VideoFrame of it), sampling the wasm heap and the live GPU
// buffers after each. A call that has not settled after `stuckMs` counts as
// pending (a hang detector, not a time limit on the work).
window.soakCase = wrap(async ({ model, backend, worker, n, stuckMs }) => {
  const clf = await Classifier.create({ model, backend, worker });
  const video = await webcam();
  const img = await photo("coffee.png");
  const reference = simple(await clf.classify(img));
  const buffers = () => (spy && backend === "webgpu" ? spy.liveBuffers() : null);
  const created = spy?.created;
  const afterCreate = { wasm: (await clf.stats()).wasmMemoryBytes, buffers: buffers() };
  const samples = [];
  let pending = 0;
  let malformed = 0;
  for (let i = 0; i < n; i++) {
    const frame = i % 5 === 4 ? new VideoFrame(video) : video;
    const t = performance.now();
    const call = clf.classify(frame);
    const top = await Promise.race([call, sleep(stuckMs).then(() => "pending")]);
    const ms = performance.now() - t;
    frame.close?.();
    if (top === "pending") pending++;
    else if (!wellFormed(top, 5)) malformed++;
    samples.push({ ms, wasm: (await clf.stats()).wasmMemoryBytes, buffers: buffers() });
  }
  const again = simple(await clf.classify(img));
  const out = {
    backend: clf.backend,
    afterCreate,
    samples,
    pending,
    malformed,
    sameReference: JSON.stringify(again) === JSON.stringify(reference),
    reference: reference[0],
    gpuBuffersCreated: spy ? spy.created - created : null,
  };
  clf.dispose();
  return out;
});

// Every kind of source a page has at once: photos as elements, canvases,
// pixels, bitmaps, bytes, an uploaded File, and the live webcam.
async function sources() {
  const [chelsea, coffee] = [await photo("chelsea.png"), await photo("coffee.png")];
  const bytes = new Uint8Array(await (await fetch("/.cache/photos/chelsea.png")).arrayBuffer());
  const canvas = document.createElement("canvas");
  [canvas.width, canvas.height] = [coffee.naturalWidth, coffee.naturalHeight];
  canvas.getContext("2d").drawImage(coffee, 0, 0);
  const offscreen = new OffscreenCanvas(chelsea.naturalWidth, chelsea.naturalHeight);
  offscreen.getContext("2d").drawImage(chelsea, 0, 0);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  return {
    chelsea,
    coffee,
    canvas,
    offscreen,
    imagedata: pixels,
    bitmap: await createImageBitmap(coffee),
    bytes,
    upload: new File([bytes], "upload.png", { type: "image/png" }),
  };
}

// 3. Overlapping calls: every source at once, plus the webcam, against the
// same sources one at a time.
window.concurrencyCase = wrap(async ({ model, backend, worker }) => {
  const clf = await Classifier.create({ model, backend, worker });
  const all = await sources();
  const sequential = {};
  for (const [name, src] of Object.entries(all)) sequential[name] = simple(await clf.classify(src));
  const names = Object.keys(all);
  const settled = await Promise.allSettled([...names.map((n) => clf.classify(all[n])), clf.classify(await webcam())]);
  const results = names.map((name, i) => {
    const s = settled[i];
    return s.status === "fulfilled"
      ? { name, same: JSON.stringify(simple(s.value)) === JSON.stringify(sequential[name]), top1: s.value[0] }
      : { name, error: codeOf(s.reason) };
  });
  const cam = settled.at(-1);
  const out = {
    backend: clf.backend,
    results,
    webcam: cam.status === "fulfilled" ? { wellFormed: wellFormed(cam.value, 5) } : { error: codeOf(cam.reason) },
  };
  clf.dispose();
  return out;
});

// 4. dispose() while calls are in flight and queued. With `untilSubmitted`
// (WebGPU on this thread) it waits until the GPU has work submitted, so the
// dispose lands during an inference; otherwise after `delayMs`, or at once
// when that is 0 (on this thread the CPU path runs each inference in one go,
// so the calls can only be caught queued).
window.disposeCase = wrap(async ({ model, backend, worker, calls, untilSubmitted, delayMs }) => {
  const clf = await Classifier.create({ model, backend, worker });
  const img = await photo("coffee.png");
  let disposed = false;
  const outcome = (p) =>
    p.then(
      () => ({ status: "resolved", beforeDispose: !disposed }),
      (e) => ({ status: "rejected", code: codeOf(e), beforeDispose: !disposed }),
    );
  const submits = spy?.submits ?? 0;
  const inflight = Array.from({ length: calls }, () => outcome(clf.classify(img)));
  if (untilSubmitted) {
    for (const end = performance.now() + 60_000; spy.submits === submits && performance.now() < end; ) await sleep(1);
  } else if (delayMs) await sleep(delayMs);
  const submittedBeforeDispose = spy ? spy.submits - submits : null;
  clf.dispose();
  disposed = true;
  const results = await Promise.all(inflight);
  const later = {
    classify: await outcome(clf.classify(img)),
    stats: await outcome(clf.stats()),
    secondDispose: (() => {
      try {
        clf.dispose();
        return "ok";
      } catch (e) {
        return `threw ${e}`;
      }
    })(),
  };
  // A new classifier in the same page works: nothing was left broken.
  const fresh = await Classifier.create({ model, backend, worker });
  const top = simple(await fresh.classify(img));
  fresh.dispose();
  return { results, later, submittedBeforeDispose, freshWorks: wellFormed(top, 5) };
});

window.ready = true;

// Worker mode with a pool whose threads never start and a digest worker that
// never answers (/stalled-pkg/, see run.mjs): create must still resolve, on a
// worker without a pool, after two pool waits (15 s each) and a digest wait (10 s).
window.poolStallCase = wrap(async () => {
  const { Classifier: Stalled } = await import("/stalled-pkg/index.js");
  const t0 = performance.now();
  const create = Stalled.create({ worker: true, threads: 2, backend: "cpu", cache: false });
  const stuck = sleep(90_000).then(() => Promise.reject(new Error("create did not resolve in 90 s")));
  const clf = await Promise.race([create, stuck]);
  const ms = performance.now() - t0;
  try {
    const { threads, threadsFallback } = await clf.stats();
    const [best] = await clf.classify(await photo("coffee.png"), 1);
    return { ms, threads, threadsFallback, best: best.index };
  } finally {
    await clf.dispose();
  }
});
