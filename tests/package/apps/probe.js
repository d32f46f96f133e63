// What every bundler's app runs in the page (copied into each app by
// tests/package/bundlers.mjs): window.espresso(options) classifies the
// coffee photo with a new classifier and answers plain data.
import { Classifier } from "webresnet";

export async function espresso(options) {
  try {
    const clf = await Classifier.create(options);
    try {
      const img = new Image();
      img.src = "/coffee.png";
      await img.decode();
      const [top] = await clf.classify(img, { topK: 1 });
      const stats = await clf.stats();
      return {
        top,
        backend: clf.backend,
        threads: clf.threads,
        adapter: clf.adapter,
        threadsFallback: stats.threadsFallback,
      };
    } finally {
      clf.dispose();
    }
  } catch (e) {
    return { error: { code: e?.code ?? null, message: String(e?.message ?? e) } };
  }
}

export function expose() {
  window.espresso = espresso;
  window.ready = true;
}
