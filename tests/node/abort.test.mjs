// Cancelling `Classifier.create` with an AbortSignal, in Node on the real
// package: before it starts, in the middle of a download (the server sees
// the request dropped), during the build, and after it resolved (no
// effect). Also a download that breaks off, which is a NETWORK error.
// Usage: node --test tests/node/abort.test.mjs   (after `make pkg`)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MODELS, ROOT } from "../../testkit/common.mjs";
import { failure, listen } from "../../testkit/node_test.mjs";

const { Classifier } = await import(join(ROOT, "pkg", "index.js"));
const modelBytes = readFileSync(join(MODELS, "default.wrn"));
const coffee = readFileSync(join(ROOT, ".cache", "photos", "coffee.png"));

// "/stall": the first half, then nothing until the client goes away.
// "/break": the first half, then the connection is cut.
let server;
let origin;
const dropped = [];
before(async () => {
  ({ server, origin } = await listen((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": modelBytes.length });
    res.write(modelBytes.subarray(0, modelBytes.length >> 1));
    if (req.url === "/break") setTimeout(() => res.destroy(), 50);
    req.on("close", () => dropped.push(req.url));
  }));
});
after(() => server.close());

test("an already aborted signal rejects with ABORTED and its reason as the cause", { timeout: 20_000 }, async () => {
  const reason = new Error("the user left");
  const e = await failure(Classifier.create({ backend: "cpu", signal: AbortSignal.abort(reason) }));
  assert.equal(e.code, "ABORTED");
  assert.equal(e.cause, reason);
});

const until = async (done) => {
  while (!done()) await new Promise((r) => setTimeout(r, 10));
};

// A create from the stalling server, aborted once some bytes have come:
// its rejection, and the time from the abort to it in ms.
async function abortMidDownload() {
  const controller = new AbortController();
  let seen = false;
  const created = Classifier.create({
    backend: "cpu",
    model: `${origin}/stall`,
    signal: controller.signal,
    onProgress: ({ phase, loaded }) => (seen ||= phase === "download" && loaded > 0),
  });
  await until(() => seen);
  const t0 = performance.now();
  controller.abort();
  const error = await failure(created);
  return { error, ms: performance.now() - t0 };
}

test("aborting in the middle of a download stops it at once", { timeout: 20_000 }, async () => {
  const { error, ms } = await abortMidDownload();
  assert.equal(error.code, "ABORTED", error.message);
  assert.ok(ms < 2000, "rejected within 2 s of the abort");
  await until(() => dropped.includes("/stall"));
});

// What a download had built in the wasm heap (the model's buffers, sized
// from its header) is freed with it: the heap does not grow with each abort.
test("aborted downloads leave nothing behind in the wasm heap", { timeout: 60_000 }, async () => {
  const abortMidway = async () => assert.equal((await abortMidDownload()).error.code, "ABORTED");
  const clf = await Classifier.create({ backend: "cpu", model: modelBytes });
  await abortMidway();
  const before = (await clf.stats()).wasmMemoryBytes;
  for (let i = 0; i < 4; i++) await abortMidway();
  const grown = (await clf.stats()).wasmMemoryBytes - before;
  clf.dispose();
  assert.ok(grown < modelBytes.length, `the wasm heap grew by ${grown} bytes over 4 aborted downloads`);
});

test("aborting during the build frees it and rejects with ABORTED", { timeout: 20_000 }, async () => {
  const controller = new AbortController();
  const created = Classifier.create({
    backend: "cpu",
    model: modelBytes,
    signal: controller.signal,
    onProgress: ({ phase }) => phase === "compile" && controller.abort(),
  });
  assert.equal((await failure(created)).code, "ABORTED");
});

test("aborting after create resolved changes nothing", { timeout: 20_000 }, async () => {
  const controller = new AbortController();
  const clf = await Classifier.create({ backend: "cpu", model: modelBytes, signal: controller.signal });
  controller.abort();
  const [top] = await clf.classify(coffee, { topK: 1 });
  assert.equal(top.label, "espresso");
  clf.dispose();
});

test("a signal that is no AbortSignal is refused with INVALID_INPUT", { timeout: 20_000 }, async () => {
  assert.equal((await failure(Classifier.create({ backend: "cpu", signal: {} }))).code, "INVALID_INPUT");
});

test("a download that breaks off rejects with NETWORK", { timeout: 20_000 }, async () => {
  const e = await failure(Classifier.create({ backend: "cpu", model: `${origin}/break` }));
  assert.equal(e.code, "NETWORK", e.message);
});
