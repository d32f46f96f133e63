// "auto"'s backend choice (src/js/backend_choice.js), in Node: the adapter
// rule, the timed choice, and the remembered choice, kept per browser and
// adapter. Sessions and adapters are stand-ins; the browser suites run the real ones.
// Usage: node --test tests/node/
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChoiceStore, STORAGE_KEY, describeAdapter, openAuto } from "../../src/js/backend_choice.js";

const UA = "Mozilla/5.0 TestBrowser/1.0";
const SWIFTSHADER = { info: { vendor: "google", architecture: "swiftshader", device: "", description: "" } };
const hardware = (device = "0x2684") => ({ info: { vendor: "nvidia", architecture: "ada", device, description: "" } });

// localStorage's interface over a Map; `throws` makes every access fail (blocked storage).
function fakeStorage({ throws = false } = {}) {
  const items = new Map();
  const guard = () => {
    if (throws) throw new Error("SecurityError");
  };
  return {
    items,
    getItem(k) {
      guard();
      return items.get(k) ?? null;
    },
    setItem(k, v) {
      guard();
      items.set(k, String(v));
    },
  };
}

// A session stand-in whose inferences take `ms[backend]` (taken in turn from
// an array), and a record of what "auto" did with it. `gpuFails`: the code
// WebGPU fails with, if it does.
function fakeBackends(ms, { gpuFails = null } = {}) {
  const log = [];
  const gpuError = () => Object.assign(new Error("no device"), { code: gpuFails });
  const took = (backend) => {
    const t = ms[backend];
    return Array.isArray(t) ? t.shift() : t;
  };
  const session = {
    kind: null,
    backend: () => session.kind,
    async setBackend(b) {
      log.push(`setBackend ${b}`);
      if (b === "webgpu" && gpuFails) throw gpuError();
      session.kind = b;
    },
  };
  return {
    log,
    async create(backend) {
      log.push(`create ${backend}`);
      if (backend === "webgpu" && gpuFails) throw gpuError();
      session.kind = backend;
      return { session, warmUpMs: took(backend) };
    },
    async timeRun(s) {
      log.push(`run ${s.kind}`);
      return took(s.kind);
    },
  };
}

const gpuOf = (adapter) => ({ requestAdapter: async () => adapter });
const auto = (adapter, backends, store) =>
  openAuto({ gpu: gpuOf(adapter), userAgent: UA, store, create: backends.create, timeRun: backends.timeRun });

test("a software or fallback adapter means the CPU, without timing WebGPU", async () => {
  for (const adapter of [
    SWIFTSHADER,
    { info: { vendor: "mesa", description: "llvmpipe (LLVM 17.0.6, 256 bits)" } },
    { info: { ...hardware().info, isFallbackAdapter: true } },
    { ...hardware(), isFallbackAdapter: true }, // browsers that still keep the flag on the adapter
  ]) {
    const b = fakeBackends({ cpu: 30, webgpu: 5 });
    const { session, reason } = await auto(adapter, b, new ChoiceStore(null));
    assert.equal(session.backend(), "cpu");
    assert.match(reason, /software renderer|fallback adapter/);
    assert.deepEqual(b.log, ["create cpu"]);
  }
  assert.equal(describeAdapter(hardware()).cpuReason, null);
});

test("no navigator.gpu, or no adapter: the CPU, with the reason", async () => {
  const b = fakeBackends({ cpu: 30 });
  const none = await openAuto({ gpu: undefined, userAgent: UA, store: new ChoiceStore(null), ...b });
  assert.equal(none.reason, "navigator.gpu is missing");
  const noAdapter = await auto(null, b, new ChoiceStore(null));
  assert.equal(noAdapter.reason, "WebGPU offers no adapter");
  assert.deepEqual(b.log, ["create cpu", "create cpu"]);
});

test("otherwise the faster warm-up wins, at the cost of one CPU warm-up", async () => {
  const fast = fakeBackends({ cpu: 80, webgpu: 12 });
  const g = await auto(hardware(), fast, new ChoiceStore(null));
  assert.equal(g.session.backend(), "webgpu");
  assert.match(g.reason, /^WebGPU measured faster: .*12 ms on WebGPU, 80 ms on the CPU/);
  assert.deepEqual(fast.log, ["create cpu", "setBackend webgpu", "run webgpu"]);

  // WebGPU's first run pays one-off costs: a second run is what counts.
  const slowStart = fakeBackends({ cpu: 80, webgpu: [300, 20] });
  const s = await auto(hardware(), slowStart, new ChoiceStore(null));
  assert.equal(s.session.backend(), "webgpu");
  assert.match(s.reason, /20 ms on WebGPU/);

  const slow = fakeBackends({ cpu: 29, webgpu: [2120, 2100] });
  const c = await auto(hardware(), slow, new ChoiceStore(null));
  assert.equal(c.session.backend(), "cpu");
  assert.match(c.reason, /^the CPU measured faster: .*2100 ms on WebGPU, 29 ms on the CPU/);
  assert.deepEqual(slow.log, ["create cpu", "setBackend webgpu", "run webgpu", "run webgpu", "setBackend cpu"]);
});

test("a WebGPU failure while measuring, or a model WebGPU can't run, leaves the session on the CPU", async () => {
  for (const code of ["WEBGPU_UNAVAILABLE", "BACKEND", "UNSUPPORTED_MODEL"]) {
    const b = fakeBackends({ cpu: 30 }, { gpuFails: code });
    const store = new ChoiceStore(null);
    const r = await auto(hardware(), b, store);
    assert.equal(r.session.backend(), "cpu", code);
    assert.equal(r.reason, "no device");
    assert.equal(store.latest, null, "a failure is not remembered as a measurement");
  }
});

test("any other failure while measuring rejects, and frees the session", async () => {
  const b = fakeBackends({ cpu: 30, webgpu: 5 });
  let freed = false;
  const timeRun = async (s) => {
    s.free = () => {
      freed = true;
    };
    throw Object.assign(new Error("bad input"), { code: "SHAPE" });
  };
  const open = openAuto({
    gpu: gpuOf(hardware()),
    userAgent: UA,
    store: new ChoiceStore(null),
    create: b.create,
    timeRun,
  });
  await assert.rejects(open, { code: "SHAPE" });
  assert.ok(freed);
});

test("the choice is remembered for the browser and adapter, and a changed adapter decides again", async () => {
  const storage = fakeStorage();
  const first = fakeBackends({ cpu: 80, webgpu: 12 });
  await auto(hardware(), first, new ChoiceStore(storage));
  assert.ok(storage.items.has(STORAGE_KEY));

  // The next visit (a new store on the same storage): no timing.
  const again = fakeBackends({ cpu: 80, webgpu: 12 });
  const r = await auto(hardware(), again, new ChoiceStore(storage));
  assert.equal(r.session.backend(), "webgpu");
  assert.match(r.reason, /^WebGPU measured faster.*\(remembered for this browser and adapter\)$/);
  assert.deepEqual(again.log, ["create webgpu"]);

  // Another GPU: measured afresh, and the new choice replaces the old.
  const other = fakeBackends({ cpu: 10, webgpu: [50, 40] });
  const o = await auto(hardware("0x1234"), other, new ChoiceStore(storage));
  assert.equal(o.session.backend(), "cpu");
  assert.deepEqual(other.log.slice(0, 3), ["create cpu", "setBackend webgpu", "run webgpu"]);
  const back = fakeBackends({ cpu: 80, webgpu: 12 });
  await auto(hardware(), back, new ChoiceStore(storage));
  assert.equal(back.log[0], "create cpu", "the first adapter's choice was replaced, so it is measured again");

  // Another browser, same adapter: measured again too.
  const store = new ChoiceStore(storage);
  const browser = fakeBackends({ cpu: 80, webgpu: 12 });
  await openAuto({ gpu: gpuOf(hardware()), userAgent: "Other/2.0", store, ...browser });
  assert.equal(browser.log[0], "create cpu");
});

test("a remembered WebGPU that fails to start falls back to the CPU", async () => {
  const storage = fakeStorage();
  await auto(hardware(), fakeBackends({ cpu: 80, webgpu: 12 }), new ChoiceStore(storage));
  const b = fakeBackends({ cpu: 30 }, { gpuFails: "WEBGPU_UNAVAILABLE" });
  const r = await auto(hardware(), b, new ChoiceStore(storage));
  assert.equal(r.session.backend(), "cpu");
  assert.deepEqual(b.log, ["create webgpu", "create cpu"]);
});

test("storage that is blocked or holds junk: the choice is kept in memory", async () => {
  const store = new ChoiceStore(fakeStorage({ throws: true }));
  await auto(hardware(), fakeBackends({ cpu: 80, webgpu: 12 }), store);
  const b = fakeBackends({ cpu: 80, webgpu: 12 });
  await auto(hardware(), b, store);
  assert.deepEqual(b.log, ["create webgpu"]);

  const junk = fakeStorage();
  junk.items.set(STORAGE_KEY, "{not json");
  const j = new ChoiceStore(junk);
  assert.equal(j.latest, null);
  j.adopt('{"key":"k","backend":"tpu","reason":"x"}');
  assert.equal(j.get("k"), null, "a record with an unknown backend is ignored");
});

test("a worker's store takes the page's record and hands its own back", async () => {
  const page = new ChoiceStore(fakeStorage());
  await auto(hardware(), fakeBackends({ cpu: 80, webgpu: 12 }), page);
  const worker = new ChoiceStore(null);
  worker.adopt(page.latest);
  const b = fakeBackends({ cpu: 80, webgpu: 12 });
  await auto(hardware(), b, worker);
  assert.deepEqual(b.log, ["create webgpu"]);

  await auto(hardware("0x1234"), fakeBackends({ cpu: 10, webgpu: [50, 40] }), worker);
  page.adopt(worker.latest);
  const p = fakeBackends({ cpu: 10, webgpu: 50 });
  await auto(hardware("0x1234"), p, page);
  assert.deepEqual(p.log, ["create cpu"]);
});
