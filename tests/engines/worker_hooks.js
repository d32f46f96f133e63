// Served by tests/engines/run.mjs in front of the package's worker.js: the
// worker's fetches and CSP violations, posted to the page's hooks
// (demo_hooks.js), since a worker's resources are not in the page's timeline.
(() => {
  const channel = new BroadcastChannel("webresnet-engines-test");
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) channel.postMessage({ kind: "resources", text: `worker ${e.name}` });
  }).observe({ type: "resource", buffered: true });
  self.addEventListener("securitypolicyviolation", (e) =>
    channel.postMessage({ kind: "violations", text: `worker: ${e.violatedDirective} ${e.blockedURI}` }),
  );
})();
