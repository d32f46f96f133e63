// A model's identity, for refusing a taught head made on another model: the
// file's length and a 64-bit FNV-1a hash of samples spread over the whole file
// (every weight tensor is touched, and hashing a few hundred KB stays cheap
// however large the model is). It tells models apart; it is not a security check.
const SAMPLES = 256;
const SAMPLE_BYTES = 1024;

export function modelIdentity(buffer) {
  const bytes =
    buffer instanceof Uint8Array
      ? buffer
      : new Uint8Array(buffer.buffer ?? buffer, buffer.byteOffset ?? 0, buffer.byteLength);
  // Two 32-bit FNV-1a lanes with different offsets: 64 bits without BigInt.
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  const take = (start, end) => {
    for (let i = start; i < end; i++) {
      a = Math.imul(a ^ bytes[i], 0x01000193);
      b = Math.imul(b ^ bytes[i], 0x01000193);
    }
  };
  if (bytes.length <= SAMPLES * SAMPLE_BYTES) take(0, bytes.length);
  else {
    const stride = Math.floor((bytes.length - SAMPLE_BYTES) / (SAMPLES - 1));
    for (let s = 0; s < SAMPLES; s++) take(s * stride, s * stride + SAMPLE_BYTES);
  }
  const hex = (x) => (x >>> 0).toString(16).padStart(8, "0");
  return `${bytes.length}-${hex(a)}${hex(b)}`;
}
