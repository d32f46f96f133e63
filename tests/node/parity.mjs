// The wasm CPU path in Node 20 against the native CLI, on seeded inputs.
// Both wasm builds: SIMD128 and relaxed SIMD (Node 20 needs the flag).
// Usage: node --experimental-wasm-relaxed-simd tests/node/parity.mjs
//        (after `make pkg` and `cargo build --release`)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CLI,
  compare,
  compareInt8,
  INT8_REL_TOL,
  MODELS,
  nativeInfer,
  ROOT,
  seededInput,
} from "../../testkit/common.mjs";
import { check, fail, finish } from "../../testkit/report.mjs";

const pkg = join(ROOT, "pkg");
/// One glue instance per binary (a query string makes Node load it afresh).
/// `--target web` glue fetches the wasm by URL by default; Node has no
/// file:// fetch for it, so hand it the bytes.
async function load(wasm) {
  const glue = await import(`${join(pkg, "webresnet.js")}?${wasm}`);
  glue.initSync({ module: readFileSync(join(pkg, wasm)) });
  return glue.Session;
}
const BUILDS = [
  ["SIMD128", await load("webresnet_bg.wasm")],
  ["relaxed", await load("webresnet_relaxed_bg.wasm")],
];
const Session = BUILDS[0][1];

// resnet18.onnx has symbolic height and width: give it 224x224, which also
// exercises infer's re-plan on a new shape.
const MODELS_TO_CHECK = [
  ["resnet18.onnx", [1, 3, 224, 224]],
  ["mobilenet_small.onnx", null],
  ["opennsfw.onnx", null],
  // The default model (EfficientNet-Lite0 in the project's format): depthwise
  // convs, and its SHA-256 checked by WebCrypto.
  ["default.wrn", null],
  // The same with int8 weights (file version 3), run on the int8 kernels.
  ["default-int8.wrn", null, "int8"],
];
const REL_TOL = 1e-4;

if (!existsSync(CLI)) throw new Error(`${CLI} missing: run cargo build --release`);

// Count WebCrypto digests, so the model file checks below can tell that the hash
// went there rather than to the wasm's software SHA-256.
const subtleDigest = crypto.subtle.digest;
let digests = 0;
crypto.subtle.digest = function (...args) {
  digests++;
  return subtleDigest.apply(this, args);
};

for (const [i, [name, fixedShape, kind]] of MODELS_TO_CHECK.entries()) {
  const path = join(MODELS, name);
  const bytes = readFileSync(path);
  let input;
  let want;
  for (const [build, BuildSession] of BUILDS) {
    const session = await BuildSession.create(bytes, "cpu");
    const shape = fixedShape ?? Array.from(session.inputShape());
    input ??= seededInput(
      shape.reduce((a, b) => a * b, 1),
      1000 + i,
    );
    want ??= nativeInfer(path, shape, input);
    const t0 = performance.now();
    const got = await session.infer(input, shape);
    const ms = performance.now() - t0;
    session.free();
    const tol = kind === "int8" ? INT8_REL_TOL : REL_TOL;
    const r = kind === "int8" ? compareInt8(want, got) : compare(want, got, tol);
    check(
      r.ok,
      `${build} ${name} [${shape}] max|diff| ${r.maxDiff?.toExponential(3)} ` +
        `(${r.rel?.toExponential(2)} of range ${r.range?.toFixed(3)}, limit ${tol.toPrecision(3)}) ` +
        `top5 wasm ${r.topGot} native ${r.topWant}; wasm infer ${ms.toFixed(0)} ms`,
    );
  }
}

// classifyBytes (decode, resize, crop, normalise, softmax, top-k inside the
// wasm) against the CLI's `classify` on a real photo.
{
  const model = join(MODELS, "mobilenet_small.onnx");
  const photo = join(ROOT, ".cache", "photos", "chelsea.png");
  const session = await Session.create(readFileSync(model), "cpu");
  const got = await session.classifyBytes(readFileSync(photo), 5);
  session.free();
  const cli = JSON.parse(execFileSync(CLI, ["classify", photo, "--model", model, "--top", "5", "--json"]))[0].top;
  const maxP = Math.max(...got.map((p, i) => Math.abs(p.probability - (cli[i]?.probability ?? NaN))));
  const ok = got.map((p) => p.index).join() === cli.map((p) => p.index).join() && maxP <= 1e-4;
  check(
    ok,
    `classifyBytes chelsea.png on mobilenet_small: ` +
      `${got.map((p) => `${p.index} ${p.label} ${p.probability.toFixed(4)}`).join("; ")} ` +
      `(CLI ${cli.map((p) => p.index)}, max |dp| ${maxP.toExponential(2)})`,
  );
}

// Errors cross as Error objects with a stable code.
try {
  await Session.create(new Uint8Array([1, 2, 3]), "cpu");
  fail("garbage model was accepted");
} catch (e) {
  const ok = e instanceof Error && e.code === "MODEL_FORMAT";
  check(ok, `garbage model rejects with code ${e.code}: ${e.message}`);
}

// A model file whose payload no longer matches its SHA-256 is refused with
// MODEL_FORMAT, with WebCrypto and without it (sha2 in the wasm, as in an
// insecure browser context). The renamed op would otherwise fail planning
// as UNSUPPORTED_OP: the hash check must win over what the bytes did.
{
  const good = readFileSync(join(MODELS, "opennsfw.wrn"));
  const flipped = Buffer.from(good);
  flipped[flipped.length - 9] ^= 0x10;
  const renamed = Buffer.from(good);
  const at = renamed.indexOf('op\\":\\"Conv\\"');
  if (at < 0) throw new Error("opennsfw.wrn has no Conv node to rename");
  renamed.write("x", at + 'op\\":\\"C'.length, "latin1");
  const outcome = (bytes) =>
    Session.create(bytes, "cpu").then(
      (s) => {
        s.free();
        return "accepted";
      },
      (e) => e.code,
    );
  // The hash digests the data section (after the header) in 1 MiB pieces (src/model/format/hash.rs).
  const pieces = Math.ceil((good.length - 8 - Number(good.readBigUInt64LE(0))) / (1 << 20));
  const webcrypto = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  for (const withWebCrypto of [true, false]) {
    if (!withWebCrypto) Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
    const before = digests;
    const got = [await outcome(good), await outcome(flipped), await outcome(renamed)];
    const hashed = digests - before;
    Object.defineProperty(globalThis, "crypto", webcrypto);
    const ok = got.join() === "accepted,MODEL_FORMAT,MODEL_FORMAT" && hashed === (withWebCrypto ? 3 * pieces : 0);
    check(
      ok,
      `opennsfw.wrn ${withWebCrypto ? "with" : "without"} WebCrypto: intact ${got[0]}, ` +
        `flipped weight byte ${got[1]}, renamed op ${got[2]} (${hashed} WebCrypto digests)`,
    );
  }
}
// Node has no WebGPU: asking for it must reject with WEBGPU_UNAVAILABLE (so
// a caller can fall back to "cpu"), not trap the wasm instance.
try {
  await Session.create(readFileSync(join(MODELS, "mobilenet_small.onnx")), "webgpu");
  fail("webgpu session created in Node?");
} catch (e) {
  const ok = e.code === "WEBGPU_UNAVAILABLE";
  check(ok, `webgpu in Node rejects with ${e.code}: ${e.message}`);
}
// ... and the module still works afterwards.
{
  const s = await Session.create(readFileSync(join(MODELS, "mobilenet_small.onnx")), "cpu");
  const out = await s.infer(seededInput(3 * 224 * 224, 5), [1, 3, 224, 224]);
  s.free();
  const ok = out.length === 1000 && out.every(Number.isFinite);
  check(ok, `cpu session after the webgpu rejection`);
}
// A failed setBackend (the Classifier's lost-device recovery) keeps the old backend working.
{
  const s = await Session.create(readFileSync(join(MODELS, "mobilenet_small.onnx")), "cpu");
  const code = await s.setBackend("webgpu").then(
    () => "resolved",
    (e) => e.code,
  );
  const out = await s.infer(seededInput(3 * 224 * 224, 5), [1, 3, 224, 224]);
  const backend = s.backend();
  s.free();
  const ok = code === "WEBGPU_UNAVAILABLE" && backend === "cpu" && out.length === 1000 && out.every(Number.isFinite);
  check(ok, `setBackend("webgpu") in Node rejects with ${code}; the session still infers on the CPU`);
}

finish("Node parity");
