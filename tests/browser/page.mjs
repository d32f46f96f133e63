// Test page: loads pkg/ and exposes window.runCase for the Playwright driver.
// Every result, error included, comes back as plain data, because a rejected
// page.evaluate loses the error's `code`.
import init, { Session } from "/pkg/webresnet.js";
import { Classifier } from "/pkg/index.js";
import { seededInput } from "/testkit/seeded.mjs";

await init({ module_or_path: "/pkg/webresnet_bg.wasm" });

// What the browser offers before we ask wgpu, so a missing adapter is
// reported as such and not as some later failure.
window.probeWebGpu = async () => {
  if (!("gpu" in navigator)) return { gpu: false, adapter: false };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { gpu: true, adapter: false };
  const info = adapter.info ?? {};
  return {
    gpu: true,
    adapter: true,
    vendor: info.vendor ?? "",
    f16: adapter.features.has("shader-f16"),
    info: `${info.vendor} ${info.architecture} ${info.description}`.trim(),
  };
};

window.runCase = async ({ model, backend, shape, seed }) => {
  try {
    const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
    const t0 = performance.now();
    const session = await Session.create(bytes, backend, shape);
    const t1 = performance.now();
    const input = seededInput(
      shape.reduce((a, b) => a * b, 1),
      seed,
    );
    const logits = await session.infer(input, shape);
    const t2 = performance.now();
    const result = {
      logits: Array.from(logits),
      backend: session.backend(),
      adapter: session.adapterInfo(),
      createMs: t1 - t0,
      inferMs: t2 - t1,
    };
    session.free();
    return result;
  } catch (e) {
    return { error: { code: e?.code ?? null, name: e?.name, message: String(e?.message ?? e) } };
  }
};

// The relaxed-SIMD build in a glue instance of its own (the query string
// loads the module afresh), loaded when first asked for.
let relaxed;
const relaxedGlue = () =>
  (relaxed ??= import("/pkg/webresnet.js?relaxed").then(async (glue) => {
    await glue.default({ module_or_path: "/pkg/webresnet_relaxed_bg.wasm" });
    return glue;
  }));

// An int8 model on the relaxed build's CPU kernels with both of its dot
// products: first the one its engine probe picked, then the other, forced.
window.int8BothDots = async ({ model, shape, seed }) => {
  try {
    const glue = await relaxedGlue();
    const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
    const session = await glue.Session.create(bytes, "cpu", shape);
    const input = seededInput(
      shape.reduce((a, b) => a * b, 1),
      seed,
    );
    const picked = glue.int8FusedDot();
    const t0 = performance.now();
    const logits = await session.infer(input, shape);
    const inferMs = performance.now() - t0;
    glue.int8FusedDot(!picked);
    const other = await session.infer(input, shape);
    glue.int8FusedDot(picked);
    session.free();
    return { picked, logits: Array.from(logits), other: Array.from(other), inferMs };
  } catch (e) {
    return { error: { code: e?.code ?? null, name: e?.name, message: String(e?.message ?? e) } };
  }
};

// classifyRgba on a photo decoded by the browser, as a page would hand over
// canvas pixels. Colour conversion is off so the pixels equal the PNG's.
window.classifyPhoto = async ({ model, backend, photo, topK }) => {
  try {
    const blob = await (await fetch(photo)).blob();
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const { data, width, height } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
    const session = await Session.create(bytes, backend);
    const top = await session.classifyRgba(data, width, height, topK);
    session.free();
    return { top };
  } catch (e) {
    return { error: { code: e?.code ?? null, name: e?.name, message: String(e?.message ?? e) } };
  }
};

// The package on the CPU in worker mode with `threads` asked for: the
// threaded build where the page is cross-origin isolated, else one thread.
window.threadsCase = async ({ model, shape, seed, threads }) => {
  try {
    const clf = await Classifier.create({ model, backend: "cpu", worker: true, threads });
    const t0 = performance.now();
    const logits = await clf.infer(
      seededInput(
        shape.reduce((a, b) => a * b, 1),
        seed,
      ),
      shape,
    );
    const inferMs = performance.now() - t0;
    const stats = await clf.stats();
    clf.dispose();
    return {
      logits: Array.from(logits),
      backend: clf.backend,
      threads: clf.threads,
      stats,
      inferMs,
      isolated: crossOriginIsolated,
    };
  } catch (e) {
    return { error: { code: e?.code ?? null, name: e?.name, message: String(e?.message ?? e) } };
  }
};

// A model the package downloads itself (main thread, CPU, no cache): its
// output for a seeded input, and whether the file was read as it arrived
// (the wasm's "webresnet:streamed" mark, see src/web/session.rs).
window.streamCase = async ({ model, shape, seed }) => {
  try {
    performance.clearMarks();
    const clf = await Classifier.create({ model, backend: "cpu", cache: false });
    const streamed = performance.getEntriesByName("webresnet:streamed").length > 0;
    const one = seededInput(
      shape.reduce((a, b) => a * b, 1),
      seed,
    );
    const logits = await clf.infer(one, shape);
    // A batch of two plans again, from the bytes the session kept.
    const two = new Float32Array(2 * one.length);
    two.set(one);
    two.set(one, one.length);
    const pair = await clf.infer(two, [2, ...shape.slice(1)]);
    clf.dispose();
    return { logits: Array.from(logits), pair: Array.from(pair), streamed };
  } catch (e) {
    return { error: { code: e?.code ?? null, name: e?.name, message: String(e?.message ?? e) } };
  }
};

// The package downloads `model` through a fetch that holds its last bytes
// back until the wasm marks its GPU pipelines compiled ahead ("webresnet:pipelines"),
// or a minute passes; then the model runs on a seeded input.
window.coldStartCase = async ({ model, seed }) => {
  const realFetch = window.fetch;
  try {
    const bytes = new Uint8Array(await (await realFetch(model)).arrayBuffer());
    const held = 1024;
    let heldTooLong = false;
    const compiled = async () => {
      for (const t0 = performance.now(); performance.now() - t0 < 60_000; ) {
        if (performance.getEntriesByName("webresnet:pipelines").length) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      heldTooLong = true;
    };
    const body = new ReadableStream({
      async start(ctrl) {
        for (let at = 0; at < bytes.length - held; at += 4096)
          ctrl.enqueue(bytes.slice(at, Math.min(at + 4096, bytes.length - held)));
        await compiled();
        ctrl.enqueue(bytes.slice(bytes.length - held));
        ctrl.close();
      },
    });
    window.fetch = async () => new Response(body, { headers: { "content-length": String(bytes.length) } });
    performance.clearMarks();
    const clf = await Classifier.create({ model, backend: "webgpu", cache: false });
    window.fetch = realFetch;
    const { coldStart } = await clf.stats();
    const shape = [1, 3, 64, 48];
    const logits = await clf.infer(
      seededInput(
        shape.reduce((a, b) => a * b, 1),
        seed,
      ),
      shape,
    );
    clf.dispose();
    return { coldStart, logits: Array.from(logits), shape, heldTooLong };
  } catch (e) {
    return { error: { code: e?.code ?? null, message: String(e?.message ?? e) } };
  } finally {
    window.fetch = realFetch;
  }
};

window.ready = true;
