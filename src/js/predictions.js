// What a caller asked to see of a probability list: a score threshold, label
// allow/deny lists and the top k. Also the temporal smoothing of a video's
// results, with hysteresis so the leading label does not flicker.
import { WebResnetError } from "./errors.js";

const labelList = (name, value) => {
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((l) => typeof l === "string")) {
    throw new WebResnetError("INVALID_INPUT", `${name} must be an array of label strings`);
  }
  return new Set(value);
};

/**
 * Checks `{ topK, scoreThreshold, allow, deny }` and returns the filter they
 * describe. `wide` is true when the filter needs more than the top k classes
 * to fill k places (it drops some of them), so the caller asks for them all.
 * @param {import("./index.js").ClassifyOptions} [options]
 */
export function predictionFilter({ topK = 5, scoreThreshold, allow, deny } = {}) {
  if (!(Number.isInteger(topK) && topK >= 1))
    throw new WebResnetError("INVALID_INPUT", `topK must be a positive integer, not ${topK}`);
  if (
    scoreThreshold !== undefined &&
    !(typeof scoreThreshold === "number" && scoreThreshold >= 0 && scoreThreshold <= 1)
  ) {
    throw new WebResnetError("INVALID_INPUT", `scoreThreshold must be a number in [0, 1], not ${scoreThreshold}`);
  }
  const allowed = labelList("allow", allow);
  const denied = labelList("deny", deny);
  const keep = (p) =>
    (scoreThreshold === undefined || p.probability >= scoreThreshold) &&
    (allowed?.has(p.label) ?? true) &&
    !denied?.has(p.label);
  return {
    topK,
    wide: Boolean(allowed || denied),
    apply: (predictions) => predictions.filter(keep).slice(0, topK),
  };
}

/**
 * Exponential smoothing of class probabilities over frames. `smoothing` in
 * [0, 1) is the weight the past keeps at each frame (0: none). A class missing
 * from a frame's list counts as probability 0 there. The leading class changes
 * only when another one passes it by `hysteresis`.
 */
export class Smoother {
  #smoothing;
  #hysteresis;
  #state = new Map(); // index -> { label, index, probability }
  #leader = null; // index

  constructor({ smoothing = 0.5, hysteresis = 0.05 } = {}) {
    if (!(typeof smoothing === "number" && smoothing >= 0 && smoothing < 1)) {
      throw new WebResnetError("INVALID_INPUT", `smoothing must be a number in [0, 1), not ${smoothing}`);
    }
    if (!(typeof hysteresis === "number" && hysteresis >= 0 && hysteresis < 1)) {
      throw new WebResnetError("INVALID_INPUT", `hysteresis must be a number in [0, 1), not ${hysteresis}`);
    }
    this.#smoothing = smoothing;
    this.#hysteresis = hysteresis;
  }

  /** Folds one frame's predictions in; returns every tracked class, the leader first, then by probability. */
  push(predictions) {
    // The first frame is taken as it is: fading in from zero would hide it.
    const keep = this.#state.size ? this.#smoothing : 0;
    const seen = new Map(predictions.map((p) => [p.index, p]));
    for (const [index, s] of this.#state) {
      s.probability = keep * s.probability + (1 - keep) * (seen.get(index)?.probability ?? 0);
    }
    for (const [index, p] of seen) {
      if (!this.#state.has(index))
        this.#state.set(index, { label: p.label, index, probability: (1 - keep) * p.probability });
    }
    // Forget classes that have faded out, so the state stays small.
    for (const [index, s] of this.#state) if (s.probability < 1e-4 && index !== this.#leader) this.#state.delete(index);

    const ranked = [...this.#state.values()].sort((a, b) => b.probability - a.probability);
    const lead = this.#state.get(this.#leader);
    const best = ranked[0];
    if (!lead || (best && best.probability > lead.probability + this.#hysteresis)) this.#leader = best?.index ?? null;
    const leader = this.#state.get(this.#leader);
    const rest = ranked.filter((s) => s !== leader);
    return (leader ? [leader, ...rest] : rest).map((s) => ({ ...s }));
  }

  reset() {
    this.#state.clear();
    this.#leader = null;
  }
}
