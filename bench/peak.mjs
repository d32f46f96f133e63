// Arithmetic peaks of one core: hand-assembled wasm loops of 12 independent
// multiply-add chains (12 keep V8's 16 x86 vector registers free of spills).
// The CPU benchmark reports achieved GFLOP/s as a fraction of the f32 ones:
// `f32` f32x4 mul + add, `relaxed` f32x4.relaxed_madd (fused where the CPU
// has FMA). The int8 ones bound the int8 kernels' inner loops (see INT8); a
// multiply and an add count as two operations.
const CHAINS = 12;

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
const [I32_SPLAT, I32_ADD, DOT_I16, RELAXED_DOT_I8, RELAXED_DOT_I8_I16] = [0x11, 0xae, 0xba, 0x113, 0x112];
const [GET, SET, TEE] = [0x20, 0x21, 0x22];

/// The f32 kinds: one chain's update of local `i` from locals `k` and `c`.
const FLOAT = {
  f32: (i, k, c) => [GET, i, GET, k, ...simd(MUL), GET, c, ...simd(ADD)],
  relaxed: (i, k, c) => [GET, i, GET, k, GET, c, ...simd(RELAXED_MADD)],
};

/// The int8 kinds: `acc + x · w` from locals `acc`, `x`, `w` and `ones`
/// (i16 lanes of 1), and operations per call.
const INT8 = {
  dot_i16: { ops: 16, step: (acc, x, w) => [GET, acc, GET, x, GET, w, ...simd(DOT_I16), ...simd(I32_ADD)] },
  // The relaxed build's: pair sums in i16, widened by a dot product with ones.
  dot_i8: {
    ops: 32,
    step: (acc, x, w, ones) => [
      ...[GET, acc, GET, w, GET, x, ...simd(RELAXED_DOT_I8_I16)],
      ...[GET, ones, ...simd(DOT_I16), ...simd(I32_ADD)],
    ],
  },
  dot_i8_add: { ops: 32, step: (acc, x, w) => [GET, w, GET, x, GET, acc, ...simd(RELAXED_DOT_I8)] },
};

/// Independent int8 chains: each its own weight operand, so that no two dot
/// products are the same value, and all one activation operand that changes
/// every iteration, so that none is loop-invariant (V8 would hoist or merge them).
const INT8_CHAINS = 6;

/// (func (param $iters i32) (result f32)). f32: locals 1..12 chains, 13 = k,
/// 14 = c. int8: locals 1..6 chains, 7..12 weights, 13 = x, 14 = ones.
export function peakModule(kind) {
  const float = FLOAT[kind];
  const chains = float ? CHAINS : INT8_CHAINS;
  const [K, C] = [CHAINS + 1, CHAINS + 2];
  const body = [1, CHAINS + 2, 0x7b];
  if (float) {
    body.push(0x43, ...f32(0.999), ...simd(SPLAT), SET, K);
    body.push(0x43, ...f32(0.001), ...simd(SPLAT), SET, C);
  } else {
    for (let i = 1; i <= chains; i++) body.push(0x41, ...leb(0x0102_0300 + i), ...simd(I32_SPLAT), SET, chains + i);
    body.push(0x41, 5, ...simd(I32_SPLAT), SET, K);
    body.push(0x41, ...leb(0x0001_0001), ...simd(I32_SPLAT), SET, C);
  }
  body.push(0x03, 0x40); // loop
  for (let i = 1; i <= chains; i++) {
    body.push(...(float ? float(i, K, C) : INT8[kind].step(i, K, chains + i, C)), SET, i);
  }
  if (!float) body.push(GET, K, GET, C, ...simd(I32_ADD), SET, K);
  body.push(GET, 0, 0x41, 1, 0x6b, TEE, 0, 0x0d, 0, 0x0b); // iters -= 1; br_if loop
  body.push(GET, 1);
  for (let i = 2; i <= chains; i++) body.push(GET, i, ...simd(ADD));
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

/// Best G operations/s of `trials` runs of about 0.1 s each; null if this
/// runtime lacks the instructions (relaxed SIMD). `kind`: a key of FLOAT or INT8;
/// `relaxed` picks "relaxed" over "f32".
export function measurePeak({ relaxed = false, kind = relaxed ? "relaxed" : "f32", trials = 7 } = {}) {
  const bytes = peakModule(kind);
  if (!WebAssembly.validate(bytes)) return null;
  const { peak } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
  const iters = 2_000_000;
  peak(iters);
  let best = 0;
  for (let t = 0; t < trials; t++) {
    const t0 = cpuMs();
    peak(iters);
    const ops = FLOAT[kind] ? CHAINS * 8 : INT8_CHAINS * INT8[kind].ops;
    best = Math.max(best, (iters * ops) / ((cpuMs() - t0) * 1e6));
  }
  return best;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const plain = measurePeak();
  const relaxed = measurePeak({ relaxed: true });
  console.log(`SIMD128 mul+add peak: ${plain.toFixed(1)} GFLOP/s`);
  console.log(`relaxed-SIMD madd peak: ${relaxed ? `${relaxed.toFixed(1)} GFLOP/s` : "unsupported"}`);
  const i16 = measurePeak({ kind: "dot_i16" });
  const i8 = measurePeak({ kind: "dot_i8" });
  const i8add = measurePeak({ kind: "dot_i8_add" });
  console.log(`int8 peak, i32x4.dot_i16x8_s + add (SIMD128 build): ${i16.toFixed(1)} GOP/s`);
  if (!i8) console.log("int8 peak, relaxed SIMD: unsupported");
  else {
    console.log(`int8 peak, i16x8.relaxed_dot_i8x16_i7x16_s widened (relaxed build): ${i8.toFixed(1)} GOP/s`);
    console.log(`int8 peak, i32x4.relaxed_dot_i8x16_i7x16_add_s: ${i8add.toFixed(1)} GOP/s`);
  }
}
