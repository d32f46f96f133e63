// Times one Classifier.create in the page, split by the phases onProgress
// reports: fetch (download), compile (import + plan + CPU backend), warm-up.
import { Classifier } from "/pkg/index.js";

window.loadOnce = async (model) => {
  const marks = {};
  performance.clearMarks();
  const t0 = performance.now();
  const clf = await Classifier.create({
    model,
    backend: "cpu",
    cache: false, // every run fetches (the server sends no-store too)
    onProgress: ({ phase }) => (marks[phase] ??= performance.now()),
  });
  const t1 = performance.now();
  clf.dispose();
  const steps = {};
  let last = marks.compile;
  for (const m of performance.getEntriesByType("mark").filter((m) => m.name.startsWith("webresnet:"))) {
    steps[m.name.slice(10)] = m.startTime - last;
    last = m.startTime;
  }
  steps.end = marks.warmup - last;
  return { fetchMs: marks.compile - t0, compileMs: marks.warmup - marks.compile, warmupMs: t1 - marks.warmup, totalMs: t1 - t0, steps };
};
window.ready = true;
