// Helpers shared by the Node and browser tests and the benchmarks:
// a seeded input generator, .npy I/O, the native CLI, and the parity check.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MODELS = join(ROOT, ".cache", "models");
export const CLI = join(ROOT, "target", "release", "webresnet");

export { seededInput } from "./seeded.mjs";

// Stops a runner before it starts when a file it needs (relative to the
// repository root, or absolute) is not built yet, naming what builds it.
export function needFiles(paths, how = "make pkg") {
  for (const path of paths) {
    if (!existsSync(resolve(ROOT, path))) throw new Error(`${path} missing: run ${how}`);
  }
}

// Minimal .npy (version 1.0, little-endian f32, C order) writer and reader:
// enough for the CLI's `infer`, which takes and gives exactly this.
export function writeNpy(path, shape, data) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += `${" ".repeat(pad % 64)}\n`;
  const head = Buffer.alloc(10);
  head.write("\x93NUMPY", 0, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, "latin1"), body]));
}

export function readNpy(path) {
  const buf = readFileSync(path);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.subarray(major === 1 ? 10 : 12, start).toString("latin1");
  if (!header.includes("'<f4'")) throw new Error(`unexpected npy header ${header}`);
  const shape = (/'shape': \(([^)]*)\)/.exec(header)[1] || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  // Copy: the Buffer's offset need not be 4-byte aligned.
  const bytes = buf.subarray(start);
  const data = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(data.buffer).set(bytes);
  return { shape, data };
}

// The native CLI's output for `input` (the numerical reference).
export function nativeInfer(modelPath, shape, input) {
  const dir = mkdtempSync(join(tmpdir(), "webresnet-"));
  const inPath = join(dir, "in.npy");
  const outPath = join(dir, "out.npy");
  writeNpy(inPath, shape, input);
  execFileSync(CLI, ["infer", "--model", modelPath, "--input", inPath, "--output", outPath], { stdio: "inherit" });
  return readNpy(outPath).data;
}

export function topK(values, k) {
  return Array.from(values.keys())
    .sort((a, b) => values[b] - values[a] || a - b)
    .slice(0, k);
}

// Parity of `got` against the reference `want`: max |diff| within
// `relTol` x the reference's range, and the same top-5 in the same order.
export function compare(want, got, relTol) {
  if (want.length !== got.length) return { ok: false, why: `length ${got.length} != ${want.length}` };
  let maxDiff = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < want.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
    lo = Math.min(lo, want[i]);
    hi = Math.max(hi, want[i]);
  }
  const range = hi - lo;
  const k = Math.min(5, want.length);
  const topWant = topK(want, k);
  const topGot = topK(got, k);
  const sameTop = topWant.join() === topGot.join();
  // NaN anywhere makes maxDiff NaN, and NaN <= x is false: it fails.
  const ok = maxDiff <= relTol * range && sameTop;
  return { ok, maxDiff, range, rel: maxDiff / range, topWant, topGot };
}

// An int8 model rounds each conv's input to 8-bit codes (7-bit in the relaxed
// build, for its dot product), so an f32 difference of one ulp upstream can move
// a code by one step: the native run is then a reference for the classes, not for
// every bit. Four 7-bit steps of the range bound the logits; the op harness checks
// each int8 kernel exactly against the portable one of the same build.
export const INT8_REL_TOL = 4 / 127;

/** {@link compare} for an int8 model: within INT8_REL_TOL of the range, the same
 * top-1, and the same five classes in the top 5 (near-ties may swap places). */
export function compareInt8(want, got) {
  const r = compare(want, got, INT8_REL_TOL);
  if (!r.topWant) return r;
  const same = r.topWant[0] === r.topGot[0] && [...r.topWant].sort().join() === [...r.topGot].sort().join();
  return { ...r, ok: r.maxDiff <= INT8_REL_TOL * r.range && same };
}
