// Worker mode's other half: the Engine in a dedicated worker, driven by
// messages from WorkerEngine (worker_client.js). Replies carry the backend,
// which can change when a lost GPU device makes "auto" fall back; the change
// itself is posted as it happens.
import { Engine } from "./engine.js";
import { errorToData, toWebResnetError } from "./errors.js";
import { threadedBuild } from "./threads.js";
import { choices } from "./backend_choice.js";

let engine;

async function handle(id, op, args) {
  switch (op) {
    case "create": {
      const { backendChoice, ...options } = args;
      choices.adopt(backendChoice);
      engine = await Engine.create(
        {
          ...options,
          onProgress: (p) => self.postMessage({ id, progress: p }),
          onBackendChange: (change) => self.postMessage({ backendChange: change }),
        },
        { threadedBuild },
      );
      return { value: null };
    }
    case "classify":
      try {
        return { value: await engine.classify(args.source, args.topK) };
      } finally {
        args.source?.close?.(); // a transferred ImageBitmap is ours to free
      }
    case "embed":
      try {
        const value = await engine.embed(args.source);
        return { value, transfer: [value.buffer] };
      } finally {
        args.source?.close?.();
      }
    case "explain":
      try {
        const value = await engine.explain(args.source, args.classIndex, args.topK);
        return { value, transfer: [value.heatmap.buffer] };
      } finally {
        args.source?.close?.();
      }
    case "infer": {
      const value = await engine.infer(args.input, args.shape);
      return { value, transfer: [value.buffer] };
    }
    case "stats":
      return { value: await engine.stats() };
    case "dispose":
      await engine?.dispose();
      return { value: null };
    default:
      throw new Error(`unknown op ${op}`);
  }
}

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const { value, transfer = [] } = await handle(id, op, args);
    const state = engine && {
      backend: engine.backend,
      adapter: engine.adapter,
      fallbackReason: engine.fallbackReason,
      backendReason: engine.backendReason,
      backendChoice: choices.latest,
      threads: engine.threads,
      modelId: engine.modelId,
    };
    self.postMessage({ id, value, state }, { transfer });
  } catch (e) {
    self.postMessage({ id, error: errorToData(toWebResnetError(e)) });
  }
};
