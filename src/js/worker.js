// Worker mode's other half: the LocalRunner in a dedicated worker, driven by
// messages from WorkerRunner (worker_runner.js). Replies carry the backend,
// which can change when a lost GPU device makes "auto" fall back; the change
// itself is posted as it happens.
import { LocalRunner } from "./local_runner.js";
import { errorToData, toWebResnetError } from "./errors.js";
import { threadedBuild } from "./threads.js";
import { choices } from "./backend_choice.js";

let runner;

// The page times the thread pool's start (worker_runner.js): a pool thread
// that never gets going (Firefox under an automation session, see
// docs/engines.md) would block this thread for good.
const watchedBuild =
  threadedBuild &&
  (async (/** @type {number} */ n) => {
    self.postMessage({ pool: "starting" });
    try {
      return await threadedBuild(n);
    } finally {
      self.postMessage({ pool: "settled" });
    }
  });

async function handle(id, op, args) {
  switch (op) {
    case "create": {
      const { backendChoice, ...options } = args;
      choices.adopt(backendChoice);
      runner = await LocalRunner.create(
        {
          ...options,
          onProgress: (p) => self.postMessage({ id, progress: p }),
          onBackendChange: (change) => self.postMessage({ backendChange: change }),
        },
        { threadedBuild: watchedBuild },
      );
      return { value: null };
    }
    case "classify":
      try {
        return { value: await runner.classify(args.source, args.topK) };
      } finally {
        args.source?.close?.(); // a transferred ImageBitmap is ours to free
      }
    case "embed":
      try {
        const value = await runner.embed(args.source);
        return { value, transfer: [value.buffer] };
      } finally {
        args.source?.close?.();
      }
    case "explain":
      try {
        const value = await runner.explain(args.source, args.classIndex, args.topK);
        return { value, transfer: [value.heatmap.buffer] };
      } finally {
        args.source?.close?.();
      }
    case "infer": {
      const value = await runner.infer(args.input, args.shape);
      return { value, transfer: [value.buffer] };
    }
    case "stats":
      return { value: await runner.stats() };
    case "dispose":
      await runner?.dispose();
      return { value: null };
    default:
      throw new Error(`unknown op ${op}`);
  }
}

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const { value, transfer = [] } = await handle(id, op, args);
    const state = runner && {
      backend: runner.backend,
      adapter: runner.adapter,
      fallbackReason: runner.fallbackReason,
      backendReason: runner.backendReason,
      backendChoice: choices.latest,
      threads: runner.threads,
      modelId: runner.modelId,
    };
    self.postMessage({ id, value, state }, { transfer });
  } catch (e) {
    self.postMessage({ id, error: errorToData(toWebResnetError(e)) });
  }
};
