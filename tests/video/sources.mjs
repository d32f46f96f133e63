// Every kind of picture the package takes, classified on WebGPU and on the
// CPU: on WebGPU each must reach the GPU by copyExternalImageToTexture with
// no read-back of its pixels (spy.mjs), and give the CPU's top-5.
import { Classifier } from "/pkg/index.js";
import { wrap } from "/testkit/page.mjs";
import { since, spied } from "./spy.mjs";

function canvasOf(source, width, height) {
  const canvas = Object.assign(document.createElement("canvas"), { width, height });
  canvas.getContext("2d").drawImage(source, 0, 0);
  return canvas;
}

// A pattern with detail at every scale, as a canvas of odd proportions.
function pattern(width, height) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) data[(y * width + x) * 4 + c] = (x * 37 + y * 91 + c * 53 + x * y) % 256;
      data[(y * width + x) * 4 + 3] = 255;
    }
  }
  const canvas = Object.assign(document.createElement("canvas"), { width, height });
  canvas.getContext("2d").putImageData(new ImageData(data, width, height), 0, 0);
  return canvas;
}

async function sourcesOf(photo) {
  const blob = await (await fetch(photo)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  const canvas = canvasOf(bitmap, width, height);
  const offscreen = new OffscreenCanvas(width, height);
  offscreen.getContext("2d").drawImage(bitmap, 0, 0);
  const img = new Image();
  img.src = URL.createObjectURL(blob);
  await img.decode();
  // A <video> showing the photo: a canvas stream, painted until a frame shows.
  const video = Object.assign(document.createElement("video"), { muted: true });
  video.srcObject = canvas.captureStream();
  video.play().catch(() => {});
  for (let i = 0; i < 250 && (video.readyState < 2 || !video.videoWidth); i++) {
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    ImageBitmap: bitmap,
    HTMLImageElement: img,
    HTMLCanvasElement: canvas,
    OffscreenCanvas: offscreen,
    ImageData: offscreen.getContext("2d").getImageData(0, 0, width, height),
    VideoFrame: new VideoFrame(bitmap, { timestamp: 0 }),
    HTMLVideoElement: video,
    Blob: blob,
    ArrayBuffer: await blob.arrayBuffer(),
  };
}

window.sourcesCase = wrap(async ({ model, photo, odd }) => {
  const sources = await sourcesOf(photo);
  for (const [w, h] of odd) sources[`canvas ${w}x${h}`] = pattern(w, h);
  const gpu = await Classifier.create({ model, backend: "webgpu" });
  const cpu = await Classifier.create({ model, backend: "cpu" });
  const out = {};
  for (const [kind, source] of Object.entries(sources)) {
    const before = spied();
    const g = await gpu.classify(source, { topK: 5 });
    const seen = since(before);
    const c = await cpu.classify(source, { topK: 5 });
    out[kind] = {
      ...seen,
      gpu: g.map((p) => p.index),
      cpu: c.map((p) => p.index),
      maxProbabilityDiff: Math.max(...g.map((p, i) => Math.abs(p.probability - c[i].probability))),
    };
  }
  sources.VideoFrame.close();
  for (const t of sources.HTMLVideoElement.srcObject.getTracks()) t.stop();
  gpu.dispose();
  cpu.dispose();
  return { backend: gpu.backend, sources: out };
});
