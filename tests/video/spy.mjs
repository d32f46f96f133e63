// Counts the calls that read a picture's pixels back to the CPU (2D canvas
// getImageData, WebGL readPixels, VideoFrame.copyTo) and the GPU copies of
// pictures (GPUQueue.copyExternalImageToTexture), by wrapping their prototypes
// in this page. On WebGPU, a frame must take the copy and never a read-back.
const counts = { getImageData: 0, readPixels: 0, copyTo: 0, copyExternalImageToTexture: 0 };

function spy(className, method, counter = method) {
  const proto = globalThis[className]?.prototype;
  const original = proto?.[method];
  if (typeof original !== "function") return;
  proto[method] = function (...args) {
    counts[counter]++;
    return original.apply(this, args);
  };
}

spy("CanvasRenderingContext2D", "getImageData");
spy("OffscreenCanvasRenderingContext2D", "getImageData");
spy("WebGLRenderingContext", "readPixels");
spy("WebGL2RenderingContext", "readPixels");
spy("VideoFrame", "copyTo");
spy("GPUQueue", "copyExternalImageToTexture");

/** The counts so far, as a copy. */
export const spied = () => ({ ...counts });

/** What happened between two `spied()` snapshots: `{ readBacks, gpuCopies }`. */
export function since(before) {
  const now = spied();
  return {
    readBacks: now.getImageData + now.readPixels + now.copyTo - before.getImageData - before.readPixels - before.copyTo,
    gpuCopies: now.copyExternalImageToTexture - before.copyExternalImageToTexture,
  };
}
