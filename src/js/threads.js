// The threaded build (pkg/threads/: its own glue, over shared memory) and
// the workers of its rayon pool. Only worker.js imports this module, so a
// page's own bundle never carries the threaded glue. Without a threaded
// build, `make pkg` replaces this file with `export const threadedBuild = null;`.
import initThreaded, { initThreadPool, ModelStream, Session } from "./threads/webresnet.js";
import { setThreadSpawner } from "./thread_pool.js";

// Starts the build with a pool of `n` threads; resolves to its classes and memory.
export async function threadedBuild(n) {
  // The pool's worker is named here, not in thread_pool.js, which the
  // worker's own script imports: a script that names itself as a worker
  // sends bundlers round a cycle (Turbopack hangs, Vite refuses).
  setThreadSpawner(() => new Worker(new URL("./thread_worker.js", import.meta.url), { type: "module" }));
  const { memory } = await initThreaded({ module_or_path: new URL("./threads/webresnet_bg.wasm", import.meta.url) });
  await initThreadPool(n);
  return { Session, ModelStream, memory };
}
