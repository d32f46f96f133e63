// Test hooks put into the demo page from outside, so the page itself carries
// no test code: CSP violations reported on the console (the page's and the
// package worker's), a count of the classify calls in flight to the worker,
// and a way to lose the worker's GPU device.

// Chromium logs a page's CSP violations on the console, but not a worker's;
// both fire this event. The text matches what the tests look for.
function reportCspViolations(scope, where) {
  scope.addEventListener("securitypolicyviolation", (e) =>
    console.error(`Content Security Policy violation in the ${where}: ${e.violatedDirective} ${e.blockedURI}`),
  );
}

// Page init script: reports CSP violations; counts the classify messages
// posted to any Worker that have no reply yet (window.workerCalls: inFlight,
// max, and atDispose: the most a worker had when told to dispose, after
// which their replies no longer count), and fires "OP-posted" on the
// document as each message with an op leaves ("classify-posted",
// "explain-posted", ...).
function pageHooks(report) {
  report(document, "page");
  const calls = { inFlight: 0, max: 0, atDispose: 0 };
  window.workerCalls = calls;
  window.Worker = class extends window.Worker {
    #waiting = new Set();
    constructor(...args) {
      super(...args);
      this.addEventListener("message", ({ data }) => {
        if (data && !data.progress && this.#waiting.delete(data.id)) calls.inFlight--;
      });
    }
    postMessage(message, transfer) {
      super.postMessage(message, transfer);
      if (message?.op === "dispose") {
        calls.atDispose = Math.max(calls.atDispose, this.#waiting.size);
        calls.inFlight -= this.#waiting.size;
        this.#waiting.clear();
      }
      if (message?.op === "classify") {
        this.#waiting.add(message.id);
        calls.inFlight++;
        calls.max = Math.max(calls.max, calls.inFlight);
      }
      if (message?.op) document.dispatchEvent(new Event(`${message.op}-posted`));
    }
  };
}

// Runs in the package's worker ahead of its own code: reports CSP
// violations; records every GPUDevice opened there, and defines
// self.loseGpu(refuseAdapters), which destroys them, waits until they are
// lost, and, if asked, makes every later adapter request find none (as when
// the GPU is gone for good). loseGpu resolves to the number of devices lost.
function workerHooks(report) {
  report(self, "worker");
  if (!self.GPUAdapter) return;
  const devices = [];
  let refuse = false;
  const { requestDevice } = GPUAdapter.prototype;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
  const { requestAdapter } = GPU.prototype;
  GPU.prototype.requestAdapter = function (...args) {
    return refuse ? Promise.resolve(null) : requestAdapter.apply(this, args);
  };
  self.loseGpu = async (refuseAdapters) => {
    refuse = refuseAdapters;
    const lost = devices.splice(0);
    for (const d of lost) {
      d.destroy();
      await d.lost;
    }
    return lost.length;
  };
}

// Installs the hooks in `context` before its page loads. The worker's hooks
// go in by serving the package's worker script with them in front (an init
// script runs only in the page), its headers, the CSP among them, kept as
// served. `onRequest(url)` sees the worker script's request, which this
// route answers instead of any earlier one.
export async function instrument(context, origin, onRequest) {
  await context.addInitScript(`(${pageHooks})(${reportCspViolations});`);
  await context.route(`${origin}/pkg/worker.js`, async (route) => {
    onRequest(route.request().url());
    const response = await route.fetch();
    const body = `(${workerHooks})(${reportCspViolations});\n${await response.text()}`;
    await route.fulfill({ response, body });
  });
}

// The package's worker in `page`: the one of the model in use (a replaced
// model's worker is terminated).
export function packageWorker(page) {
  const workers = page.workers().filter((w) => new URL(w.url()).pathname === "/pkg/worker.js");
  if (workers.length !== 1) throw new Error(`the page runs ${workers.length} package workers, not 1`);
  return workers[0];
}
