// The threaded glue's `startWorkers` (wasm-bindgen-rayon calls it from
// initThreadPool): starts the pool's threads, each a worker running
// thread_worker.js that shares this build's module and memory.
/** @type {null | (() => Worker)} */
let spawn = null;

// Workers stay referenced while the pool lives: a browser may collect an
// unreferenced worker that shares memory with this thread.
const pool = [];

/** How to start one thread's worker (set by threads.js). */
export function setThreadSpawner(spawner) {
  spawn = spawner;
}

function startOne(init) {
  return new Promise((resolve, reject) => {
    if (!spawn) throw new Error("no thread spawner: threads.js sets it");
    const worker = spawn();
    const failed = (why) => {
      worker.terminate();
      reject(new Error(`a thread of the pool failed to start: ${why}`));
    };
    worker.onmessage = ({ data }) => {
      worker.onmessage = worker.onerror = null;
      if (data?.type === "webresnet_thread_ready") resolve(worker);
      else failed(data?.message ?? "no reply");
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      failed(event.message ?? "script error");
    };
    worker.postMessage(init);
  });
}

export async function startWorkers(module, memory, builder) {
  if (!spawn) throw new Error("the thread pool has no worker to start");
  const init = {
    type: "webresnet_thread_init",
    init: { module_or_path: module, memory },
    receiver: builder.receiver(),
  };
  pool.push(...(await Promise.all(Array.from({ length: builder.numThreads() }, () => startOne(init)))));
  builder.build();
}
