// Page side of bench/threads.mjs: one worker per build of ours, timed in
// alternation on the same model and input.
const call = (worker, message) =>
  new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.postMessage(message);
  });

// `variants`: [{ build: "plain" | "threads", threads }]. Resolves to each
// variant's inference times (ms, measured in its worker), in variants' order.
window.bench = async ({ model, shape, runs, variants }) => {
  const workers = [];
  try {
    for (const v of variants) {
      const worker = new Worker("/bench/threads_worker.mjs", { type: "module" });
      workers.push(worker);
      await call(worker, { op: "init", model, shape, ...v });
    }
    const times = variants.map(() => []);
    for (let i = 0; i < runs; i++) {
      for (const [j, worker] of workers.entries()) times[j].push((await call(worker, { op: "run" })).ms);
    }
    return { times, isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency };
  } finally {
    for (const w of workers) w.terminate();
  }
};

window.ready = true;
