// The package in a page with no bundler: imported by URL from pkg/, as a
// site serving the package's files would. The runner (run.mjs) calls
// window.checks.NAME(arg) through the engine driver; each answers with plain
// data (an error's `code` would not survive the driver), so run.mjs judges.
import { Classifier, WebResnetError } from "/pkg/index.js";

const COFFEE = "/.cache/photos/coffee.png";
const CAT = "/.cache/photos/chelsea.png";
const TOP = 3;

const fetchBlob = async (url) => (await fetch(url)).blob();
const loaded = (el, event) =>
  new Promise((resolve, reject) => {
    el.addEventListener(event, resolve, { once: true });
    el.addEventListener("error", () => reject(new Error(`${el.tagName} failed to load`)), { once: true });
  });
const brief = (top) => top.map(({ index, probability }) => ({ index, p: probability }));

// The error a call rejects with, as data; null when it resolves.
async function rejection(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return { typed: e instanceof WebResnetError, code: e?.code ?? null, message: String(e?.message ?? e) };
  }
}

// The default model's create, aborted at its first progress report (in a
// worker: the report's message reaches the page before create's reply).
function abortedCreate(worker) {
  const controller = new AbortController();
  return Classifier.create({ worker, signal: controller.signal, onProgress: () => controller.abort() });
}

async function videoOf(stream) {
  const video = Object.assign(document.createElement("video"), { muted: true, playsInline: true, srcObject: stream });
  const ready = loaded(video, "loadeddata");
  await video.play();
  await ready;
  return video;
}

// Every image source kind the package takes, each holding coffee.png; a kind
// this engine lacks says why instead. `make()` resolves to { source, done? }.
async function sourceKinds() {
  const blob = await fetchBlob(COFFEE);
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  const canvas = Object.assign(document.createElement("canvas"), { width, height });
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  const kinds = {
    ImageData: () => ({ source: canvas.getContext("2d").getImageData(0, 0, width, height) }),
    ImageBitmap: () => ({ source: bitmap }),
    ArrayBuffer: async () => ({ source: await blob.arrayBuffer() }),
    Uint8Array: async () => ({ source: new Uint8Array(await blob.arrayBuffer()) }),
    Blob: () => ({ source: blob }),
    File: () => ({ source: new File([blob], "coffee.png", { type: "image/png" }) }),
    HTMLImageElement: async () => {
      const img = new Image();
      const ready = loaded(img, "load");
      img.src = COFFEE;
      await ready;
      return { source: img };
    },
    "URL string": () => ({ source: COFFEE }),
    URL: () => ({ source: new URL(COFFEE, location.href) }),
    "blob: URL": () => {
      const url = URL.createObjectURL(blob);
      return { source: url, done: () => URL.revokeObjectURL(url) };
    },
    HTMLCanvasElement: () => ({ source: canvas }),
    OffscreenCanvas: () => {
      if (typeof OffscreenCanvas !== "function") return { missing: "no OffscreenCanvas" };
      const off = new OffscreenCanvas(width, height);
      off.getContext("2d").drawImage(bitmap, 0, 0);
      return { source: off };
    },
    VideoFrame: () => {
      if (typeof VideoFrame !== "function") return { missing: "no VideoFrame (WebCodecs)" };
      const frame = new VideoFrame(bitmap, { timestamp: 0 });
      return { source: frame, done: () => frame.close() };
    },
    // A video element playing the canvas: the frame goes through the
    // engine's video path (a YUV conversion, possibly), not a copy of pixels.
    HTMLVideoElement: async () => {
      if (typeof canvas.captureStream !== "function") return { missing: "no HTMLCanvasElement.captureStream" };
      const stream = canvas.captureStream();
      // Some engines send a captured canvas's frame only once it is drawn again.
      const redraw = setInterval(() => canvas.getContext("2d").drawImage(bitmap, 0, 0), 30);
      const video = await videoOf(stream);
      return {
        source: video,
        done: () => {
          clearInterval(redraw);
          for (const t of stream.getTracks()) t.stop();
        },
      };
    },
  };
  return kinds;
}

async function classifyEach(clf, kinds, names) {
  const out = [];
  for (const kind of names) {
    const made = await kinds[kind]();
    if (made.missing) {
      out.push({ kind, missing: made.missing });
      continue;
    }
    try {
      const t0 = performance.now();
      const top = await clf.classify(made.source, { topK: TOP });
      out.push({ kind, top: brief(top), label: top[0].label, ms: performance.now() - t0 });
    } catch (e) {
      out.push({ kind, error: `${e.code ?? e.name}: ${e.message}` });
    } finally {
      made.done?.();
    }
  }
  return out;
}

const describe = async (clf) => ({
  backend: clf.backend,
  threads: clf.threads,
  fallbackReason: clf.fallbackReason,
  adapter: clf.adapter,
  stats: await clf.stats(),
});

window.checks = {
  // What the engine offers the package.
  probe: () => ({
    gpu: "gpu" in navigator,
    isolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer,
    sharedWasmMemory: (() => {
      try {
        return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer.byteLength > 0;
      } catch {
        return false;
      }
    })(),
    cores: navigator.hardwareConcurrency,
    userAgent: navigator.userAgent,
  }),

  // The default model under "auto" on the page's thread: every source kind,
  // then the cat photo.
  async mainThread() {
    const clf = await Classifier.create();
    try {
      const kinds = await sourceKinds();
      const results = await classifyEach(clf, kinds, Object.keys(kinds));
      const cat = await clf.classify(await fetchBlob(CAT), { topK: TOP });
      return { ...(await describe(clf)), results, cat: brief(cat), catLabel: cat[0].label };
    } finally {
      clf.dispose();
    }
  },

  // Worker mode: what crosses to the worker as is (bytes, ImageData, Blob)
  // and what the page turns into a transferred ImageBitmap (elements).
  async worker({ threads } = {}) {
    const clf = await Classifier.create({ worker: true, ...(threads ? { threads } : {}) });
    try {
      const kinds = await sourceKinds();
      const results = await classifyEach(clf, kinds, [
        "ImageBitmap",
        "Blob",
        "Uint8Array",
        "ImageData",
        "HTMLImageElement",
        "URL string",
      ]);
      const cat = await clf.classify(await fetchBlob(CAT), { topK: TOP });
      return { ...(await describe(clf)), results, cat: brief(cat), catLabel: cat[0].label };
    } finally {
      clf.dispose();
    }
  },

  // Bad input of every kind gets its typed error code; so does a create
  // cancelled at its first progress report.
  async errors({ foreignOrigin }) {
    const junk = new Uint8Array(4096).fill(7);
    const notImage = new Blob(["not a picture"], { type: "image/png" });
    const out = {
      badModelBytes: await rejection(() => Classifier.create({ model: junk })),
      badModelBytesWorker: await rejection(() => Classifier.create({ model: junk, worker: true })),
      missingModel: await rejection(() => Classifier.create({ model: "/.cache/models/no-such-model.wrn" })),
      badBackend: await rejection(() => Classifier.create({ backend: "tpu" })),
      abortedMidway: await rejection(() => abortedCreate(false)),
      abortedMidwayWorker: await rejection(() => abortedCreate(true)),
    };
    const clf = await Classifier.create({ backend: "cpu" });
    out.notAnImage = await rejection(() => clf.classify(notImage));
    out.noImage = await rejection(() => clf.classify(null));
    out.notASource = await rejection(() => clf.classify({ width: 1 }));
    out.missingImage = await rejection(() => clf.classify("/.cache/photos/no-such-photo.png"));
    out.badTopK = await rejection(() => clf.classify(notImage, { topK: 0 }));
    out.wrongLength = await rejection(() => clf.infer(new Float32Array(10), [1, 3, 7, 7]));
    out.wrongChannels = await rejection(() => clf.infer(new Float32Array(5 * 32 * 32), [1, 5, 32, 32]));
    // From another origin that has not allowed this page to read it (no CORS).
    const foreign = new Image();
    const ready = loaded(foreign, "load");
    foreign.src = `${foreignOrigin}/coffee.png`;
    await ready;
    out.foreignImage = await rejection(() => clf.classify(foreign));
    out.foreignUrl = await rejection(() => clf.classify(foreign.src));
    const inWorker = await Classifier.create({ backend: "cpu", worker: true });
    out.foreignImageWorker = await rejection(() => inWorker.classify(foreign));
    inWorker.dispose();
    clf.dispose();
    out.disposed = await rejection(() => clf.classify(notImage));
    return out;
  },

  // The fake camera's frames through the package, on the page and in a worker.
  async camera() {
    if (!navigator.mediaDevices?.getUserMedia) return { missing: "no navigator.mediaDevices.getUserMedia" };
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const video = await videoOf(stream);
    const main = await Classifier.create({ backend: "cpu" });
    const inWorker = await Classifier.create({ backend: "cpu", worker: true });
    try {
      return {
        device: stream.getVideoTracks()[0].label,
        size: [video.videoWidth, video.videoHeight],
        main: brief(await main.classify(video, { topK: TOP })),
        worker: brief(await inWorker.classify(video, { topK: TOP })),
      };
    } finally {
      main.dispose();
      inWorker.dispose();
      for (const t of stream.getTracks()) t.stop();
    }
  },

  // `frames` camera frames classified one after another in worker mode, as
  // the demo does: the wasm heap after a warm-up and at the end, latencies.
  async soak({ frames, warmup }) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const video = await videoOf(stream);
    const clf = await Classifier.create({ worker: true });
    const ms = [];
    let heapAfterWarmup = 0;
    try {
      for (let i = 0; i < frames; i++) {
        const bitmap = await createImageBitmap(video);
        const t0 = performance.now();
        const top = await clf.classify(bitmap, { topK: TOP });
        ms.push(performance.now() - t0);
        bitmap.close();
        if (!(top.length === TOP && top[0].probability >= top[1].probability))
          throw new Error(`frame ${i}: bad answer`);
        if (i + 1 === warmup) heapAfterWarmup = (await clf.stats()).wasmMemoryBytes;
      }
      return { heapAfterWarmup, heapAtEnd: (await clf.stats()).wasmMemoryBytes, ms, threads: clf.threads };
    } finally {
      clf.dispose();
      for (const t of stream.getTracks()) t.stop();
    }
  },
};
