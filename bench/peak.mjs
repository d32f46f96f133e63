// SIMD128 arithmetic peak of one core: a hand-assembled wasm loop of 12
// independent f32x4 multiply-add chains (12 keep V8's 16 x86 vector
// registers free of spills). The CPU benchmark reports achieved GFLOP/s as a
// fraction of this. `relaxed` uses f32x4.relaxed_madd (fused where the CPU has FMA).
const CHAINS = 12;
const FLOPS_PER_ITER = CHAINS * 4 * 2;

const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const f32 = (x) => [...new Uint8Array(new Float32Array([x]).buffer)];
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const simd = (op) => [0xfd, ...leb(op)];
const [SPLAT, EXTRACT, ADD, MUL, RELAXED_MADD] = [0x13, 0x1f, 0xe4, 0xe6, 0x105];
const [GET, SET, TEE] = [0x20, 0x21, 0x22];

/// (func (param $iters i32) (result f32)): locals 1..12 chains, 13 = k, 14 = c.
function module(relaxed) {
  const K = CHAINS + 1;
  const C = CHAINS + 2;
  const body = [1, CHAINS + 2, 0x7b];
  body.push(0x43, ...f32(0.999), ...simd(SPLAT), SET, K);
  body.push(0x43, ...f32(0.001), ...simd(SPLAT), SET, C);
  body.push(0x03, 0x40); // loop
  for (let i = 1; i <= CHAINS; i++) {
    if (relaxed) body.push(GET, i, GET, K, GET, C, ...simd(RELAXED_MADD), SET, i);
    else body.push(GET, i, GET, K, ...simd(MUL), GET, C, ...simd(ADD), SET, i);
  }
  body.push(GET, 0, 0x41, 1, 0x6b, TEE, 0, 0x0d, 0, 0x0b); // iters -= 1; br_if loop
  body.push(GET, 1);
  for (let i = 2; i <= CHAINS; i++) body.push(GET, i, ...simd(ADD));
  body.push(...simd(EXTRACT), 0, 0x0b);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]),
    ...section(3, [1, 0]),
    ...section(7, [1, 4, ...new TextEncoder().encode("peak"), 0, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

/// Milliseconds of this process's CPU time: unlike wall time, it doesn't
/// count the time other processes hold the core.
export const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/// Best GFLOP/s of `trials` runs of about 0.1 s each; null if this runtime
/// lacks the instructions (relaxed SIMD).
export function measurePeak({ relaxed = false, trials = 7 } = {}) {
  const bytes = module(relaxed);
  if (!WebAssembly.validate(bytes)) return null;
  const { peak } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
  const iters = 2_000_000;
  peak(iters);
  let best = 0;
  for (let t = 0; t < trials; t++) {
    const t0 = cpuMs();
    peak(iters);
    best = Math.max(best, (iters * FLOPS_PER_ITER) / ((cpuMs() - t0) * 1e6));
  }
  return best;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const plain = measurePeak();
  const relaxed = measurePeak({ relaxed: true });
  console.log(`SIMD128 mul+add peak: ${plain.toFixed(1)} GFLOP/s`);
  console.log(`relaxed-SIMD madd peak: ${relaxed ? `${relaxed.toFixed(1)} GFLOP/s` : "unsupported"}`);
}
