// One thread of the threaded build's rayon pool (started by thread_pool.js):
// instantiates the build on the module and memory it is sent, then runs
// rayon's loop until the pool ends.
import initThreaded, { wbg_rayon_start_worker } from "./threads/webresnet.js";

self.onmessage = async ({ data }) => {
  if (data?.type !== "webresnet_thread_init") return;
  self.onmessage = null;
  try {
    await initThreaded(data.init);
  } catch (e) {
    self.postMessage({ type: "webresnet_thread_failed", message: String(e?.message ?? e) });
    return;
  }
  self.postMessage({ type: "webresnet_thread_ready" });
  wbg_rayon_start_worker(data.receiver);
};
