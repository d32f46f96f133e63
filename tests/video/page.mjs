// Video test page: classifyVideo from pkg/ on the fake webcam and on streams
// the page makes itself (a canvas that stops, a recorded clip that ends, a
// zero-sized canvas). Cases are window.* functions for the driver (run.mjs);
// results, errors included, come back as plain data.
import { Classifier } from "/pkg/index.js";
import { wrap } from "/testkit/page.mjs";
import { classifyVideo } from "/pkg/video.js";
import { since, spied } from "./spy.mjs";
import "./sources.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Chromium's fake camera (--use-fake-device-for-media-stream): a moving
// pattern with a frame counter, so every frame differs.
const webcam = () => navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });

// Runs classifyVideo until `until(results)` holds or `ms` pass; returns what it saw.
async function watch(start, { until = () => false, ms = 60_000 } = {}) {
  const results = [];
  const errors = [];
  let stop;
  const settled = new Promise((resolve) => {
    stop = start({
      onResult: (r) => {
        results.push(r);
        if (until(results)) resolve();
      },
      onError: (e) => {
        errors.push({ code: e.code, message: e.message });
        if (e.code === "STREAM_ENDED" || e.code === "DISPOSED") resolve();
      },
    });
  });
  const timedOut = await Promise.race([settled.then(() => false), sleep(ms).then(() => true)]);
  stop();
  // Nothing may arrive after stop().
  const after = results.length;
  await sleep(300);
  return { results, errors, timedOut, lateResults: results.length - after };
}

// 1. The loop's machinery with a slow stand-in classify: never more than one
// frame in flight, and the frames that come meanwhile are dropped.
window.droppingCase = wrap(async ({ delayMs, frames }) => {
  const stream = await webcam();
  let inFlight = 0;
  let maxInFlight = 0;
  const slow = async () => {
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await sleep(delayMs);
    inFlight--;
    return [
      { index: 1, label: "a", probability: 0.6 },
      { index: 2, label: "b", probability: 0.4 },
    ];
  };
  const seen = await watch((cb) => classifyVideo(slow, stream, cb), { until: (r) => r.length >= frames });
  for (const t of stream.getTracks()) t.stop();
  const last = seen.results.at(-1);
  return {
    ...seen,
    results: seen.results.length,
    maxInFlight,
    dropped: last?.dropped,
    fps: last?.fps,
    latencyMs: last?.latencyMs,
  };
});

// 2. A real classifier on the webcam, with filters: every result obeys them.
window.filterCase = wrap(async ({ model, backend, frames }) => {
  const clf = await Classifier.create({ model, backend });
  const stream = await webcam();
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  const first = await clf.classify(video, { topK: 10 });
  const allow = first.slice(1, 4).map((p) => p.label);
  const deny = [first[0].label];
  const threshold = first[3].probability;
  const run = (options) =>
    watch((cb) => clf.classifyVideo(video, { ...options, ...cb }), { until: (r) => r.length >= frames });
  const before = spied();
  const allowed = await run({ allow, topK: 5, smoothing: 0 });
  const pixels = { ...since(before), frames: allowed.results.length };
  const denied = await run({ deny, topK: 5, smoothing: 0 });
  const thresholded = await run({ scoreThreshold: threshold, topK: 5, smoothing: 0 });
  const smoothed = await run({ topK: 1, smoothing: 0.9 });
  const plain = await run({ topK: 1, smoothing: 0 });
  // classify takes the same filters.
  const once = await clf.classify(video, { allow, topK: 5 });
  const invalid = await clf.classify(video, { scoreThreshold: 7 }).then(
    () => "accepted",
    (e) => e.code,
  );
  for (const t of stream.getTracks()) t.stop();
  clf.dispose();
  const labels = (s) => s.results.flatMap((r) => r.predictions.map((p) => p.label));
  const probs = (s) => s.results.flatMap((r) => r.predictions.map((p) => p.probability));
  const top1 = (s) => s.results.map((r) => r.predictions[0]?.probability ?? 0);
  const spread = (xs) => Math.max(...xs) - Math.min(...xs);
  const changes = (s) =>
    s.results.filter((r, i) => i && r.predictions[0]?.index !== s.results[i - 1].predictions[0]?.index).length;
  return {
    backend: clf.backend,
    allow,
    deny,
    threshold,
    allowedLabels: [...new Set(labels(allowed))],
    deniedLabels: [...new Set(labels(denied))],
    minAboveThreshold: Math.min(...probs(thresholded)),
    counts: [allowed, denied, thresholded, smoothed, plain].map((s) => s.results.length),
    errors: [allowed, denied, thresholded, smoothed, plain].flatMap((s) => s.errors),
    late: [allowed, denied, thresholded, smoothed, plain].reduce((n, s) => n + s.lateResults, 0),
    spread: { smoothed: spread(top1(smoothed).slice(3)), plain: spread(top1(plain).slice(3)) },
    leaderChanges: { smoothed: changes(smoothed), plain: changes(plain) },
    onceLabels: once.map((p) => p.label),
    invalid,
    pixels,
    fps: plain.results.at(-1)?.fps,
    latencyMs: plain.results.at(-1)?.latencyMs,
  };
});

// 3. Soak: `frames` results of a real classifier on the webcam; the wasm heap
// after warm-up and at the end, and nothing after stop().
window.soakCase = wrap(async ({ model, backend, frames, warmup }) => {
  const clf = await Classifier.create({ model, backend });
  const stream = await webcam();
  let heapAtWarmup;
  const seen = await watch((cb) => clf.classifyVideo(stream, cb), {
    until: (r) => {
      if (r.length === warmup) clf.stats().then((s) => (heapAtWarmup = s.wasmMemoryBytes));
      return r.length >= frames;
    },
    ms: 10 * 60_000,
  });
  const heapAtEnd = (await clf.stats()).wasmMemoryBytes;
  for (const t of stream.getTracks()) t.stop();
  clf.dispose();
  const last = seen.results.at(-1);
  return {
    results: seen.results.length,
    errors: seen.errors,
    timedOut: seen.timedOut,
    lateResults: seen.lateResults,
    heapAtWarmup,
    heapAtEnd,
    fps: last?.fps,
    dropped: last?.dropped,
    medianLatencyMs: seen.results.map((r) => r.latencyMs).sort((a, b) => a - b)[seen.results.length >> 1],
  };
});

// The loop's own cost on the CPU: the webcam's results per second against
// one over the pure inference time (the model on a tensor: no frame to grab,
// resize or wait for), timed before and after the webcam run. The camera
// gives 60 frames a second (run.mjs), so it is not what limits the model.
window.fpsCase = wrap(async ({ model, shape, frames, skip }) => {
  const clf = await Classifier.create({ model, backend: "cpu" });
  const input = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const times = [];
  const infer = async () => {
    for (let i = 0; i < 9; i++) {
      const t = performance.now();
      await clf.infer(input, shape);
      times.push(performance.now() - t);
    }
  };
  await infer();
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 60 } });
  const stamps = [];
  const seen = await watch(
    (cb) =>
      clf.classifyVideo(stream, {
        ...cb,
        onResult: (r) => {
          stamps.push(performance.now());
          cb.onResult(r);
        },
      }),
    { until: (r) => r.length >= frames },
  );
  const cameraFps = stream.getVideoTracks()[0].getSettings().frameRate;
  for (const t of stream.getTracks()) t.stop();
  await infer();
  clf.dispose();
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const inferMs = median(times);
  const fps = ((stamps.length - 1 - skip) * 1000) / (stamps.at(-1) - stamps[skip]);
  return {
    errors: seen.errors,
    timedOut: seen.timedOut,
    results: seen.results.length,
    inferMs,
    fps,
    cameraFps,
    latencyMs: median(seen.results.slice(skip).map((r) => r.latencyMs)),
    ratio: 1000 / inferMs / fps,
  };
});

// A canvas stream the page controls: frames while `paint` runs.
function canvasStream(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  let n = 0;
  const timer = setInterval(() => {
    if (!canvas.width || !canvas.height) return;
    ctx.fillStyle = `hsl(${(n++ * 37) % 360} 80% 50%)`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }, 30);
  return { canvas, stream: canvas.captureStream(30), stopPainting: () => clearInterval(timer) };
}

// 4. Streams that end or give nothing: a camera unplugged mid-stream (its
// track stops), a recorded clip that plays to its end, a zero-sized canvas,
// and a classifier disposed mid-loop. Each ends or skips cleanly, with a typed error.
window.endingCase = wrap(async ({ model }) => {
  const clf = await Classifier.create({ model, backend: "cpu" });
  const out = {};
  // Watches `stream` to its own end, calling `act()` once `n` results are in.
  const actAfter = (stream, n, act) =>
    watch((cb) => clf.classifyVideo(stream, cb), {
      until: (r) => {
        if (r.length === n) act();
        return false;
      },
      ms: 30_000,
    });

  const unplugged = canvasStream(64, 48);
  const track = unplugged.stream.getVideoTracks()[0];
  out.unplugged = await actAfter(unplugged.stream, 3, () => track.stop());
  unplugged.stopPainting();

  // A one-second clip recorded from a canvas, played in a <video> to its end.
  const rec = canvasStream(64, 48);
  const recorder = new MediaRecorder(rec.stream, { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const recorded = new Promise((r) => (recorder.onstop = r));
  recorder.start();
  await sleep(1000);
  recorder.stop();
  await recorded;
  rec.stopPainting();
  for (const t of rec.stream.getTracks()) t.stop();
  const clip = document.createElement("video");
  clip.muted = true;
  clip.src = URL.createObjectURL(new Blob(chunks, { type: "video/webm" }));
  await clip.play();
  out.ended = await watch((cb) => clf.classifyVideo(clip, cb), { ms: 30_000 });

  // Zero-sized frames: nothing to classify and nothing fails; once the canvas
  // has a size, results come.
  const empty = canvasStream(0, 0);
  let sized = false;
  let early = 0;
  const emptyRun = watch((cb) => clf.classifyVideo(empty.stream, cb), {
    until: () => {
      if (!sized) early++;
      return sized;
    },
    ms: 30_000,
  });
  await sleep(1000);
  empty.canvas.width = 64;
  empty.canvas.height = 48;
  sized = true;
  out.empty = await emptyRun;
  out.resultsBeforeSize = early;
  empty.stopPainting();
  for (const t of empty.stream.getTracks()) t.stop();

  // Disposed while the loop runs.
  const live = canvasStream(64, 48);
  out.disposed = await actAfter(live.stream, 2, () => clf.dispose());
  live.stopPainting();

  // Bad arguments are refused at once.
  const refuse = (f) => {
    try {
      f();
      return "accepted";
    } catch (e) {
      return e.code;
    }
  };
  const fresh = await Classifier.create({ model, backend: "cpu" });
  out.refused = [
    refuse(() => fresh.classifyVideo(document.createElement("canvas"), { onResult() {} })),
    refuse(() => fresh.classifyVideo(live.stream, {})),
    refuse(() => fresh.classifyVideo(live.stream, { onResult() {}, smoothing: 1 })),
    refuse(() => fresh.classifyVideo(live.stream, { onResult() {}, maxFps: 0 })),
  ];
  fresh.dispose();
  for (const t of live.stream.getTracks()) t.stop();
  const brief = (s) => ({
    results: s.results.length,
    errors: s.errors,
    timedOut: s.timedOut,
    lateResults: s.lateResults,
  });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v?.results ? brief(v) : v]));
});

window.ready = true;
