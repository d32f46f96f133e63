// The device benchmark: for one model, each backend's cold latency (load,
// compile, warm-up and the first classify) and warm latency (classify calls
// after that), and the backend "auto" takes here, with its reason.
import { WebResnetError } from "./errors.js";

const SIDE = 224;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// A grey frame: the same work as any photo of its size, nothing to decode.
function frame() {
  const data = new Uint8ClampedArray(SIDE * SIDE * 4).fill(128);
  return typeof ImageData === "function" ? new ImageData(data, SIDE, SIDE) : { data, width: SIDE, height: SIDE };
}

// One backend: its classifier loaded, timed and disposed; an error is a result too.
async function measure(create, options, backend, runs) {
  const t0 = performance.now();
  let clf;
  try {
    clf = await create({ ...options, backend });
  } catch (e) {
    return { backend, error: `${e?.code ?? "ERROR"}: ${e?.message ?? e}` };
  }
  try {
    const loadMs = performance.now() - t0;
    const image = frame();
    const time = async () => {
      const t = performance.now();
      await clf.classify(image, { topK: 1 });
      return performance.now() - t;
    };
    const firstMs = await time();
    const warm = [];
    for (let i = 0; i < runs; i++) warm.push(await time());
    return {
      backend,
      ran: clf.backend,
      adapter: clf.adapter,
      loadMs,
      firstMs,
      coldMs: loadMs + firstMs,
      warmMs: { median: median(warm), min: Math.min(...warm), runs: warm },
    };
  } finally {
    clf.dispose();
  }
}

/**
 * `create(options)` makes a classifier (Classifier.create). Backends are
 * measured one after another, so only one model is loaded at a time.
 * @param {(options: any) => Promise<any>} create
 * @param {import("./index.js").BenchmarkOptions} options
 */
export async function benchmark(create, { model, worker = false, runs = 5, onProgress } = {}) {
  if (!(Number.isInteger(runs) && runs >= 1))
    throw new WebResnetError("INVALID_INPUT", `runs must be a positive integer, not ${runs}`);
  const options = { model, worker };
  const backends = [];
  for (const backend of /** @type {const} */ (["webgpu", "cpu"])) {
    onProgress?.({ step: backend });
    backends.push(await measure(create, options, backend, runs));
  }
  onProgress?.({ step: "auto" });
  const clf = await create({ ...options, backend: "auto" });
  const auto = { backend: clf.backend, reason: clf.backendReason };
  clf.dispose();
  return { userAgent: globalThis.navigator?.userAgent ?? null, worker, runs, backends, auto };
}
