// One build of ours in a worker, for bench/threads.mjs: "init" loads it
// (the threaded build with a pool of `threads`) and runs one warm-up
// inference; each "run" answers with one inference's time.
import { seededInput } from "/testkit/seeded.mjs";

let session;
let input;
let shape;

self.onmessage = async ({ data }) => {
  try {
    if (data.op === "init") {
      const dir = data.build === "threads" ? "/pkg/threads" : "/pkg";
      const glue = await import(`${dir}/webresnet.js`);
      await glue.default({ module_or_path: `${dir}/webresnet_bg.wasm` });
      if (data.build === "threads") await glue.initThreadPool(data.threads);
      const bytes = new Uint8Array(await (await fetch(data.model)).arrayBuffer());
      shape = data.shape;
      input = seededInput(
        shape.reduce((a, b) => a * b, 1),
        7,
      );
      session = await glue.Session.create(bytes, "cpu", shape);
      await session.infer(input, shape);
      self.postMessage({});
    } else {
      const t0 = performance.now();
      await session.infer(input, shape);
      self.postMessage({ ms: performance.now() - t0 });
    }
  } catch (e) {
    self.postMessage({ error: String(e?.message ?? e) });
  }
};
