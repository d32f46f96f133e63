// Digests a model file's data section in pieces as a download delivers it, on
// a thread of its own (see readBody in model.js). Messages in: { length }
// (the announced size, or 0), then each chunk (a Uint8Array), then "end".
// Message out: { start, digests } (the data section's offset, one SHA-256
// ArrayBuffer per piece), or null when the bytes are not a model file.
const PIECE = 1 << 20; // PIECE in src/model/format.rs

let bytes = new Uint8Array(0);
let loaded = 0;
let start; // the data section's offset once the header's length arrived; -1: not a model file
const digests = [];

// Digests each piece now complete in bytes[0, loaded); at the end (`last`) the short one too.
function digestPieces(last) {
  if (start === undefined && loaded >= 9) {
    const headerLen = new DataView(bytes.buffer, 0, 8).getBigUint64(0, true);
    // A safetensors header is a JSON object; ONNX and torch files start otherwise.
    start = bytes[8] === 0x7b && headerLen < BigInt(Number.MAX_SAFE_INTEGER) ? 8 + Number(headerLen) : -1;
  }
  for (let at = start + digests.length * PIECE; start >= 0 && (at + PIECE <= loaded || (last && at < loaded)); at += PIECE) {
    digests.push(crypto.subtle.digest("SHA-256", bytes.subarray(at, Math.min(at + PIECE, loaded))));
  }
}

self.onmessage = async ({ data }) => {
  if (data === "end") {
    digestPieces(true);
    self.postMessage(start >= 0 ? { start, digests: await Promise.all(digests) } : null);
  } else if (data instanceof Uint8Array) {
    if (loaded + data.length > bytes.length) {
      const grown = new Uint8Array(Math.max(loaded + data.length, 2 * bytes.length));
      grown.set(bytes.subarray(0, loaded));
      bytes = grown;
    }
    bytes.set(data, loaded);
    loaded += data.length;
    digestPieces(false);
  } else {
    bytes = new Uint8Array(data.length);
  }
};
