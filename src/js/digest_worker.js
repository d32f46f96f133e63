// Digests a model file's data section in pieces as a download delivers it, on
// a thread of its own (see readBody in model.js). Messages in: each chunk of
// the file in order (a Uint8Array), then "end". Message out: { start, digests }
// (the data section's offset, one SHA-256 ArrayBuffer per piece), or null
// when the bytes are not a model file.
const PIECE = 1 << 20; // PIECE in src/model/format/mod.rs

const prefix = new Uint8Array(9); // the header's length (u64 LE), then its first byte
let seen = 0; // bytes of the file received
let start; // the data section's offset once the prefix arrived; -1: not a model file
const piece = new Uint8Array(PIECE);
let fill = 0;
const digests = [];

// WebCrypto copies its input when called, so the piece buffer is reused at once.
const digest = (bytes) => digests.push(crypto.subtle.digest("SHA-256", bytes));

function take(chunk) {
  const from = seen;
  if (seen < prefix.length) prefix.set(chunk.subarray(0, prefix.length - seen), seen);
  seen += chunk.length;
  if (start === undefined && seen >= prefix.length) {
    const headerLen = new DataView(prefix.buffer).getBigUint64(0, true);
    // A safetensors header is a JSON object; ONNX and torch files start otherwise.
    start = prefix[8] === 0x7b && headerLen < BigInt(Number.MAX_SAFE_INTEGER) ? 8 + Number(headerLen) : -1;
  }
  for (let at = Math.max(0, start - from); start >= 0 && at < chunk.length; ) {
    const n = Math.min(PIECE - fill, chunk.length - at);
    piece.set(chunk.subarray(at, at + n), fill);
    fill += n;
    at += n;
    if (fill === PIECE) {
      digest(piece);
      fill = 0;
    }
  }
}

self.onmessage = async ({ data }) => {
  if (data !== "end") return take(data);
  if (fill > 0) digest(piece.subarray(0, fill));
  self.postMessage(start >= 0 && seen >= start ? { start, digests: await Promise.all(digests) } : null);
};
