// The test app: what a user's page would do with the installed `webresnet`
// package, exposed as window.* cases for the Playwright driver. Every result,
// error included, comes back as plain data (a rejected evaluate loses `code`).
import { Classifier, WebResnetError } from "webresnet";

const PHOTOS = { chelsea: "/chelsea.png", coffee: "/coffee.png" };

const asData = (e) => ({
  error: {
    code: e?.code ?? null,
    name: e?.name,
    isClass: e instanceof WebResnetError,
    message: String(e?.message ?? e),
  },
});
const wrap = (fn) => async (arg) => {
  try {
    return await fn(arg);
  } catch (e) {
    return asData(e);
  }
};
const simple = (top) => top.map(({ index, label, probability }) => ({ index, label, probability }));

async function loadImage(url) {
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}

// The current frame of a playing <video> fed by a canvas stream of the photo.
async function videoOf(img) {
  const canvas = document.createElement("canvas");
  [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const stream = canvas.captureStream();
  const video = document.createElement("video");
  video.muted = true;
  video.srcObject = stream;
  const loaded = new Promise((r) => video.addEventListener("loadeddata", r, { once: true }));
  // Keep frames coming while the video starts.
  const timer = setInterval(() => ctx.drawImage(img, 0, 0), 50);
  await video.play();
  await loaded;
  clearInterval(timer);
  return video;
}

// One photo as one kind of source.
async function source(photo, kind) {
  const url = PHOTOS[photo];
  const img = await loadImage(url);
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const bitmapOpts = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
  const drawn = (c) => {
    [c.width, c.height] = [img.naturalWidth, img.naturalHeight];
    c.getContext("2d").drawImage(img, 0, 0);
    return c;
  };
  switch (kind) {
    case "image":
      return img;
    case "bytes":
      return bytes;
    case "arraybuffer":
      return bytes.buffer;
    case "blob":
      return new Blob([bytes], { type: "image/png" });
    case "file":
      return new File([bytes], `${photo}.png`, { type: "image/png" });
    case "url":
      return url;
    case "urlobject":
      return new URL(url, location.href);
    case "bloburl":
      return URL.createObjectURL(new Blob([bytes], { type: "image/png" }));
    case "bitmap":
      return createImageBitmap(new Blob([bytes]), bitmapOpts);
    case "imagedata": {
      const bitmap = await createImageBitmap(new Blob([bytes]), bitmapOpts);
      const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    }
    case "canvas":
      return drawn(document.createElement("canvas"));
    case "offscreen":
      return drawn(new OffscreenCanvas(1, 1));
    case "video":
      return videoOf(img);
    default:
      throw new Error(`unknown source kind ${kind}`);
  }
}

// Records every GPUDevice wgpu opens, so a test can destroy it (a lost device),
// and can make new adapters unavailable.
const devices = [];
let refuseAdapters = false;
if (navigator.gpu) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
  const requestAdapter = GPU.prototype.requestAdapter;
  GPU.prototype.requestAdapter = function (...args) {
    return refuseAdapters ? Promise.resolve(null) : requestAdapter.apply(this, args);
  };
}

async function loseDevices() {
  for (const d of devices.splice(0)) {
    d.destroy();
    await d.lost;
  }
}

// "auto"'s remembered choice (localStorage, as the package documents it) set
// to `backend`: a WebGPU choice makes "auto" land on WebGPU even here, where
// the adapter alone would send it to the CPU.
function rememberBackend(backend) {
  const record = JSON.parse(localStorage.getItem("webresnet:backend"));
  localStorage.setItem("webresnet:backend", JSON.stringify({ ...record, backend }));
}

// Creates a classifier, classifies each photo as each kind of source,
// optionally embeds chelsea, then optionally loses the GPU device and classifies again.
// `remember`: first sets "auto"'s remembered choice to this backend.
window.classifyCase = wrap(async ({ options, items, embed, afterLoss, remember }) => {
  if (remember) rememberBackend(remember);
  const phases = [];
  const t0 = performance.now();
  const clf = await Classifier.create({ ...options, onProgress: (p) => phases.push(p.phase) });
  const createMs = performance.now() - t0;
  const results = [];
  for (const [photo, kind] of items) {
    const src = await source(photo, kind);
    const t = performance.now();
    const top = simple(await clf.classify(src, { topK: 5 }));
    results.push({ photo, kind, top, ms: performance.now() - t });
  }
  const features = embed ? Array.from(await clf.embed(await source("chelsea", "image"))) : null;
  const out = {
    backend: clf.backend,
    threads: clf.threads,
    adapter: clf.adapter,
    fallbackReason: clf.fallbackReason,
    backendReason: clf.backendReason,
    createMs,
    phases: [...new Set(phases)],
    results,
    features,
    afterLoss: [],
  };
  for (const step of afterLoss ?? []) {
    refuseAdapters = step === "lose-and-refuse";
    await loseDevices();
    const top = simple(await clf.classify(await source("coffee", "image"), { topK: 5 }));
    out.afterLoss.push({ step, backend: clf.backend, top, fallbackReason: clf.fallbackReason });
  }
  refuseAdapters = false;
  clf.dispose();
  return out;
});

// "auto" without WebGPU: navigator.gpu removed for the duration.
window.fallbackCase = wrap(async () => {
  const descriptor = Object.getOwnPropertyDescriptor(Navigator.prototype, "gpu");
  delete Navigator.prototype.gpu;
  try {
    const clf = await Classifier.create({ backend: "auto" });
    const top = simple(await clf.classify(await source("coffee", "image"), { topK: 5 }));
    const out = { gpuVisible: "gpu" in navigator, backend: clf.backend, fallbackReason: clf.fallbackReason, top };
    clf.dispose();
    return out;
  } finally {
    if (descriptor) Object.defineProperty(Navigator.prototype, "gpu", descriptor);
  }
});

// A photo from another origin that has not allowed this page to read it
// (no CORS): the browser shows it, the package must refuse it with a message
// that says what to do.
window.foreignCase = wrap(async ({ options, foreignOrigin }) => {
  const img = await loadImage(`${foreignOrigin}/coffee.png`);
  const clf = await Classifier.create(options);
  try {
    await clf.classify(img);
    return { backend: clf.backend, resolved: true };
  } catch (e) {
    return { backend: clf.backend, code: e?.code ?? null, message: String(e?.message ?? e) };
  } finally {
    clf.dispose();
  }
});

// Errors: each failed call rejects with a WebResnetError of a stable code,
// and the classifier goes on working.
window.errorCase = wrap(async ({ modelUrl, sha256, worker }) => {
  const codes = {};
  const attempt = async (name, fn) => {
    try {
      await fn();
      codes[name] = "resolved";
    } catch (e) {
      codes[name] = e instanceof WebResnetError ? e.code : `not a WebResnetError: ${e}`;
    }
  };
  const url = new URL(modelUrl, location.href).href;
  const fetches = () => performance.getEntriesByName(url).length;
  const clf = await Classifier.create({ backend: "cpu", model: modelUrl, sha256, worker });
  const cached = !!(await (await caches.open("webresnet-models")).match(url));
  // A second create must come from the cache. (A worker's fetches are in its
  // own timeline, so only the main thread can count them.)
  const fetchesBefore = fetches();
  (await Classifier.create({ backend: "cpu", model: modelUrl, sha256, worker })).dispose();
  const refetched = worker ? null : fetches() !== fetchesBefore;
  const img = await source("coffee", "image");
  await attempt("garbageImage", () => clf.classify(new Uint8Array([1, 2, 3, 4])));
  await attempt("notAnImage", () => clf.classify({ hello: 1 }));
  await attempt("missingImage", () => clf.classify("/no-such-photo.png"));
  await attempt("badTopK", () => clf.classify(img, { topK: 0 }));
  await attempt("badShape", () => clf.infer(new Float32Array(10), [1, 3, 224, 224]));
  const after = simple(await clf.classify(img, { topK: 1 }));
  clf.dispose();
  await attempt("disposed", () => clf.classify(img));
  await attempt("wrongHash", () =>
    Classifier.create({ backend: "cpu", model: modelUrl, sha256: "0".repeat(64), worker }),
  );
  await attempt("garbageModel", () => Classifier.create({ backend: "cpu", model: new Uint8Array(100), worker }));
  await attempt("missingModel", () => Classifier.create({ backend: "cpu", model: "/no-such-model.onnx", worker }));
  await attempt("badBackend", () => Classifier.create({ backend: "tpu", worker }));
  await attempt("abortedBefore", () =>
    Classifier.create({ backend: "cpu", model: modelUrl, worker, signal: AbortSignal.abort() }),
  );
  // Cancelled at the first progress report: the cached model's read on the
  // main thread; in worker mode, the report's message, which reaches the page
  // before create's reply.
  const controller = new AbortController();
  await attempt("abortedMidway", () =>
    Classifier.create({
      backend: "cpu",
      model: modelUrl,
      worker,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }),
  );
  return { codes, after, cached, refetched };
});

window.ready = true;
