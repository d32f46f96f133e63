// Test hooks that tests/engines/run.mjs serves in front of the demo's main.js
// (the page carries no test code): every resource the page fetches, every
// CSP violation (the package worker's too, from worker_hooks.js over a
// BroadcastChannel), and the actions a person takes, driven from the page
// itself so that one script serves every engine's driver. run.mjs serves
// testkit/eval_probe.mjs's evalInLaterTask in front of it.
(() => {
  const seen = { resources: [], violations: [] };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.resources.push(`page ${e.name}`);
  }).observe({ type: "resource", buffered: true });
  document.addEventListener("securitypolicyviolation", (e) =>
    seen.violations.push(`page: ${e.violatedDirective} ${e.blockedURI}`),
  );
  new BroadcastChannel("webresnet-engines-test").onmessage = ({ data }) => seen[data.kind].push(data.text);

  const $ = (id) => document.getElementById(id);
  const shown = (id) => ($(id).hidden ? "" : $(id).textContent);
  const say = (id, text) => Object.assign($(id), { textContent: text, hidden: !text });
  const labels = (id) => [...$(id).querySelectorAll(".label")].map((e) => e.textContent);
  async function until(what, test, ms = 5 * 60_000) {
    const end = Date.now() + ms;
    for (;;) {
      const value = test();
      if (value) return value;
      if (Date.now() > end) throw new Error(`no ${what}; the page says: ${shown("error") || "(nothing)"}`);
      await new Promise((tick) => setTimeout(tick, 50));
    }
  }
  const photo = async (url, name = url.split("/").at(-1)) => {
    const blob = await (await fetch(url)).blob();
    return new File([blob], name, { type: blob.type });
  };
  const holding = (...files) => {
    const data = new DataTransfer();
    for (const file of files) data.items.add(file);
    return data;
  };
  const pick = (input, file) => {
    input.files = holding(file).files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const HOW = {
    sample: async (name) => document.querySelector(`button[data-photo="${name}"]`).click(),
    file: async (name) => pick($("file"), await photo(`/photos/${name}`)),
    drop: async (name) => {
      const init = { bubbles: true, cancelable: true, dataTransfer: holding(await photo(`/photos/${name}`)) };
      $("drop").dispatchEvent(carrying(new DragEvent("drop", init), "dataTransfer", "DragEvent"));
    },
    paste: async (name) => {
      const init = { bubbles: true, cancelable: true, clipboardData: holding(await photo(`/photos/${name}`)) };
      document.dispatchEvent(carrying(new ClipboardEvent("paste", init), "clipboardData", "ClipboardEvent"));
    },
  };
  // Some engines drop a synthetic event's data: the page would then see no file.
  function carrying(event, field, type) {
    if (!event[field]?.files.length) throw new Error(`a synthetic ${type} here carries no ${field}`);
    return event;
  }

  window.demoTest = {
    seen,
    state: () => ({ backend: $("backend").textContent, notice: shown("notice"), error: shown("error") }),
    modelReady: () =>
      until("model load", () => document.body.dataset.model !== "loading" && document.body.dataset.model),

    // The photo `name` given `how`; resolves to the labels shown for it.
    async photo(name, how) {
      const list = $("image-top");
      delete list.dataset.for;
      await HOW[how](name);
      const answer = how === "paste" ? "pasted image" : name;
      await until(`result for ${name}`, () => list.dataset.for === answer);
      return { labels: labels("image-top"), error: shown("error"), latency: $("latency").textContent };
    },

    // Photos picked together: each thumbnail's caption once all have one.
    async gallery(names) {
      const input = $("file");
      input.files = holding(...(await Promise.all(names.map((n) => photo(`/photos/${n}`))))).files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      const items = () => [...$("gallery").querySelectorAll("li")];
      await until("gallery captions", () => items().length === names.length && items().every((li) => li.dataset.top));
      return items().map((li) => ({ name: li.dataset.name, top: li.dataset.top }));
    },

    // A file that is no image (#file) or no model (#own-model): the message shown.
    async badFile(input, name) {
      if (input === "own-model") {
        $("model").value = "own";
        $("model").dispatchEvent(new Event("change"));
      }
      say("error", ""); // the message to wait for is this file's, not an earlier one
      pick($(input), new File([new Uint8Array(4096).fill(7)], name));
      const error = await until(`error for ${name}`, () => shown("error"));
      await window.demoTest.modelReady();
      return { error, model: $("model").value, status: $("backend").textContent };
    },

    // Starts the camera, waits for live results and a frame rate, stops it.
    async camera() {
      $("camera-toggle").click();
      await until(
        "live result",
        () => labels("camera-top").length > 0 && Number.parseFloat($("fps").textContent) > 0,
        120_000,
      );
      const out = { labels: labels("camera-top"), fps: $("fps").textContent, latency: $("frame-latency").textContent };
      $("camera-toggle").click();
      out.stopped = $("camera-toggle").textContent;
      return out;
    },

    // The CSP at work: a string run as code in a later task (a driver's own
    // script may be exempt) must be refused, and reported. The expected
    // report is then taken out of `seen`.
    async evalRefused() {
      const outcome = await evalInLaterTask();
      const reported = await until(
        "the eval's CSP report",
        () => {
          const i = seen.violations.findIndex((v) => v.startsWith("page: script-src"));
          return i >= 0 && seen.violations.splice(i, 1);
        },
        10_000,
      ).catch(() => false);
      return { outcome, reported: Boolean(reported) };
    },
  };
})();
