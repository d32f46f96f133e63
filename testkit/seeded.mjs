// Runs in Node and in the test page alike (no Node imports here).

// mulberry32: tiny, seedable, identical in Node and in the page, so both
// sides can make the same input without shipping it around.
export function seededInput(len, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = u * 4 - 2; // roughly the range of normalised pixels
  }
  return out;
}
