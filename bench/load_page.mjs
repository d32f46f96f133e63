// Times one Classifier.create in the page, split by the phases onProgress
// reports: fetch (download), compile (import + plan + CPU backend), warm-up;
// the compile also by the wasm's performance marks ("webresnet:NAME", each
// the end of a phase), in ms since the previous one. The wasm is compiled
// and instantiated before `ready`, so a page's first load times the model
// alone, with the code running as cold as on a user's first visit.
import { Classifier } from "/pkg/index.js";
import { loadWasm } from "/pkg/wasm.js";

// `cache`: through the Cache API (a repeat visit, once a first load stored the file).
window.loadOnce = async (model, cache = false) => {
  const marks = {};
  performance.clearMarks();
  const t0 = performance.now();
  const clf = await Classifier.create({
    model,
    backend: "cpu",
    cache, // without it every run fetches (the server sends no-store too)
    onProgress: ({ phase }) => (marks[phase] ??= performance.now()),
  });
  const t1 = performance.now();
  clf.dispose();
  const phases = {};
  let last = marks.compile;
  for (const m of performance.getEntriesByType("mark").filter((m) => m.name.startsWith("webresnet:"))) {
    phases[m.name.slice("webresnet:".length)] = m.startTime - last;
    last = m.startTime;
  }
  const [fetchMs, compileMs, warmupMs] = [marks.compile - t0, marks.warmup - marks.compile, t1 - marks.warmup];
  return { fetchMs, compileMs, warmupMs, totalMs: t1 - t0, phases };
};

await loadWasm();
window.ready = true;
