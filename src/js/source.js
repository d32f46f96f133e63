// Image sources -> what the wasm takes: `{ rgba, width, height }` pixels,
// or `{ encoded }` bytes where the runtime has no image decoder (Node).
import { WebResnetError } from "./errors.js";
import { readLocalFile } from "./local_file.js";
import { resolveUrl } from "./url.js";

// Pixels exactly as stored in the file: the native CLI sees the same ones,
// so results agree across the CLI, Node and the browser.
/** @type {ImageBitmapOptions} */
const BITMAP_OPTIONS = { colorSpaceConversion: "none", premultiplyAlpha: "none" };

export const is = (value, name) => typeof globalThis[name] === "function" && value instanceof globalThis[name];
const canDecode = () => typeof globalThis.createImageBitmap === "function";

function decodeError(e, what) {
  return new WebResnetError("IMAGE_DECODE", `cannot decode ${what}: ${e?.message ?? e}`, { cause: e });
}

export function isImageData(source) {
  return (
    is(source, "ImageData") ||
    (source?.data instanceof Uint8ClampedArray && Number.isInteger(source.width) && Number.isInteger(source.height))
  );
}

export function isEncoded(source) {
  return source instanceof ArrayBuffer || ArrayBuffer.isView(source);
}

function bytesOf(source) {
  return source instanceof ArrayBuffer
    ? new Uint8Array(source)
    : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
}

// A URL (a string or a URL object) names an image to fetch, relative to the
// page; in Node a relative path or a file: URL is read from disk, as a model's
// is. Gives the image as a Blob or bytes; any other source as it is.
export async function fetchedSource(source) {
  if (source === "") throw new WebResnetError("INVALID_INPUT", "no image given: the URL is empty");
  if (typeof source !== "string" && !(source instanceof URL)) return source;
  const url = resolveUrl(source, "image");
  const failed = (why, cause) =>
    new WebResnetError("NETWORK", `cannot fetch the image ${url.href}: ${why}`, cause && { cause });
  // A fetch the browser refuses says no more than "failed"; across origins, CORS is the likely cause.
  const page = globalThis.location?.origin;
  const corsHint =
    page && url.origin !== page ? ` (an image from another origin needs its server to allow ${page} by CORS)` : "";
  try {
    if (url.protocol === "file:") return await readLocalFile(url);
    const response = await fetch(url);
    if (!response.ok) throw failed(`HTTP ${response.status}`);
    return await response.blob();
  } catch (e) {
    throw e instanceof WebResnetError ? e : failed(`${e?.message ?? e}${corsHint}`, e);
  }
}

// Waits until an element has pixels to give, or says why it never will.
async function ready(source) {
  if (is(source, "HTMLImageElement")) {
    if (!source.complete || !source.naturalWidth) {
      await source.decode().catch((e) => {
        throw decodeError(e, `image ${source.currentSrc || source.src}`);
      });
    }
  } else if (is(source, "HTMLVideoElement") && source.readyState < 2 /* HAVE_CURRENT_DATA */) {
    throw new WebResnetError("IMAGE_DECODE", "the video has no current frame yet (wait for 'loadeddata')");
  }
}

// Any drawable source (elements, canvases, ImageBitmap, VideoFrame, Blob)
// as a new ImageBitmap, which the caller owns (and may transfer).
export async function toBitmap(source) {
  if (!canDecode())
    throw new WebResnetError("INVALID_INPUT", "this runtime has no createImageBitmap: pass encoded bytes");
  await ready(source);
  try {
    return await createImageBitmap(source, BITMAP_OPTIONS);
  } catch (e) {
    if (e?.name === "TypeError")
      throw new WebResnetError("INVALID_INPUT", `not an image source: ${e.message}`, { cause: e });
    throw decodeError(e, "the image");
  }
}

// The top-left `width` x `height` pixels of `bitmap`, as RGBA.
function readPixels(bitmap, width, height) {
  const canvas =
    typeof OffscreenCanvas === "function"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new WebResnetError("BACKEND", "no 2D canvas context to read the image's pixels");
  ctx.drawImage(bitmap, 0, 0, width, height, 0, 0, width, height);
  try {
    return ctx.getImageData(0, 0, width, height).data;
  } catch (e) {
    // A picture from another origin that did not allow this page (CORS) taints what it is drawn on.
    if (e?.name !== "SecurityError") throw e;
    throw new WebResnetError(
      "INVALID_INPUT",
      "the image is from another origin that does not let this page read it (CORS): serve it with an " +
        'Access-Control-Allow-Origin header and load it with crossorigin="anonymous"',
      { cause: e },
    );
  }
}

export function bitmapPixels(bitmap) {
  const { width, height } = bitmap;
  return { rgba: readPixels(bitmap, width, height), width, height };
}

// Refuses a bitmap this page may not read, which no worker may be sent either.
export function checkReadable(bitmap) {
  readPixels(bitmap, 1, 1);
}

// The largest side every WebGPU device takes for a texture (the default
// maxTextureDimension2D, which the wasm asks for); a larger picture is read
// as pixels and preprocessed on the CPU.
const MAX_FRAME_SIDE = 8192;

// What GPUQueue.copyExternalImageToTexture takes, with its size in pixels.
const FRAME_SIZE = {
  HTMLVideoElement: (v) => [v.videoWidth, v.videoHeight],
  HTMLImageElement: (i) => [i.naturalWidth, i.naturalHeight],
  VideoFrame: (f) => [f.displayWidth, f.displayHeight],
  ImageBitmap: (b) => [b.width, b.height],
  HTMLCanvasElement: (c) => [c.width, c.height],
  OffscreenCanvas: (c) => [c.width, c.height],
  ImageData: (d) => [d.width, d.height],
};

const VIDEO = ["HTMLVideoElement", "VideoFrame"];

// A source for WebGPU to copy as it is: `{ frame, width, height, video,
// close() }` (close() frees a bitmap made here, never the caller's; `video`:
// the frame is a video's, copied straight), or null where the wasm takes it
// as pixels instead (plain RGBA objects, runtimes without createImageBitmap,
// pictures too large for a texture). `videoViaBitmap`: a video's frame goes
// through an ImageBitmap, for browsers that can't copy it straight.
export async function toFrame(source, videoViaBitmap = false) {
  if (source == null) throw new WebResnetError("INVALID_INPUT", "no image given");
  let kind = Object.keys(FRAME_SIZE).find((name) => is(source, name));
  let frame = source;
  if (kind && !(videoViaBitmap && VIDEO.includes(kind))) await ready(source);
  else if (!kind && (isImageData(source) || !canDecode())) return null;
  else {
    // Encoded bytes, a Blob, an SVG image: the browser decodes them to a bitmap.
    frame = await toBitmap(isEncoded(source) ? new Blob([bytesOf(source)]) : source);
    kind = "ImageBitmap";
  }
  const owned = frame !== source;
  const [width, height] = FRAME_SIZE[kind](frame);
  if (width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE) {
    if (owned) frame.close();
    return null;
  }
  return { frame, width, height, video: VIDEO.includes(kind), close: () => owned && frame.close() };
}

// Any supported source -> a picture for the wasm. An ImageBitmap is read,
// not closed: it stays the caller's.
export async function toPicture(source) {
  if (source == null) throw new WebResnetError("INVALID_INPUT", "no image given");
  if (isImageData(source)) return { rgba: source.data, width: source.width, height: source.height };
  if (is(source, "ImageBitmap")) return bitmapPixels(source);
  const encoded = isEncoded(source);
  if (!canDecode() && (encoded || is(source, "Blob"))) {
    return { encoded: encoded ? bytesOf(source) : new Uint8Array(await source.arrayBuffer()) };
  }
  // Bytes go through the browser's decoder: more formats than the wasm's (AVIF, GIF...).
  const bitmap = await toBitmap(encoded ? new Blob([bytesOf(source)]) : source);
  try {
    return bitmapPixels(bitmap);
  } finally {
    bitmap.close();
  }
}
