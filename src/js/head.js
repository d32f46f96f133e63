// Few-shot classes taught on a model's embeddings: k nearest neighbours by
// cosine similarity over L2-normalised examples. Saved as JSON with the
// identity of the model that made the embeddings, so another model's head is
// refused rather than giving confident nonsense.
import { WebResnetError } from "./errors.js";

const FORMAT = "webresnet-head";
const VERSION = 1;
// Bounds for a head read from JSON: far above real use, low enough that a
// hostile file can't make the page allocate without limit.
const LIMITS = { classes: 10_000, examples: 100_000, dim: 65_536, label: 256, k: 100 };

const invalid = (message) => new WebResnetError("INVALID_INPUT", message);

function checkLabel(label) {
  if (typeof label !== "string" || !label.length || label.length > LIMITS.label) {
    throw invalid(`a label must be a non-empty string of at most ${LIMITS.label} characters`);
  }
  return label;
}

function checkK(k) {
  if (!(Number.isInteger(k) && k >= 1 && k <= LIMITS.k))
    throw invalid(`k must be an integer in 1..${LIMITS.k}, not ${k}`);
  return k;
}

// A unit-length copy; a zero vector can't be compared by angle.
function normalised(v) {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (!(norm > 0) || !Number.isFinite(norm)) throw invalid("the embedding is zero or not finite: nothing to compare");
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / norm;
  return out;
}

function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function toBase64(vector) {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text, dim) {
  if (typeof text !== "string" || text.length !== 4 * Math.ceil((4 * dim) / 3)) {
    throw invalid(`an example must be ${dim} float32 values in base64`);
  }
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw invalid("an example is not valid base64");
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = view.getFloat32(4 * i, true);
  return normalised(out);
}

export class Head {
  #embed;
  #modelId;
  #k;
  /** @type {number | null} */
  #dim = null;
  #classes = new Map(); // label -> Float32Array[] (unit length)

  /** Use `Classifier.createHead` or `Classifier.loadHead`. `embed(source)` gives a source's embedding. */
  constructor(embed, modelId, { k = 5 } = {}) {
    this.#embed = embed;
    this.#modelId = modelId;
    this.#k = checkK(k);
  }

  /** The taught labels, in the order they were first added. */
  get labels() {
    return [...this.#classes.keys()];
  }

  /** How many examples `label` has (0 for an unknown label). */
  count(label) {
    return this.#classes.get(label)?.length ?? 0;
  }

  remove(label) {
    this.#classes.delete(label);
    if (!this.#classes.size) this.#dim = null;
  }

  clear() {
    this.#classes.clear();
    this.#dim = null;
  }

  async #embedding(source) {
    const e = normalised(await this.#embed(source));
    if (this.#dim !== null && e.length !== this.#dim)
      throw invalid(`the embedding has ${e.length} values, the head ${this.#dim}`);
    return e;
  }

  /** Adds one example of `label`: any source `classify` takes. */
  async add(label, source) {
    checkLabel(label);
    const e = await this.#embedding(source);
    this.#dim = e.length;
    if (!this.#classes.has(label)) this.#classes.set(label, []);
    this.#classes.get(label).push(e);
  }

  /** The taught classes for `source`, best first: `[{ label, probability }]`, the share of the k nearest examples' votes. */
  async classify(source, { topK = 3 } = {}) {
    if (!(Number.isInteger(topK) && topK >= 1)) throw invalid(`topK must be a positive integer, not ${topK}`);
    if (!this.#classes.size) throw invalid("the head has no examples yet: add some first");
    const q = await this.#embedding(source);
    const neighbours = [];
    for (const [label, examples] of this.#classes)
      for (const e of examples) neighbours.push({ label, similarity: dot(q, e) });
    neighbours.sort((a, b) => b.similarity - a.similarity);
    const nearest = neighbours.slice(0, this.#k);
    // Votes first; on a tie, the class whose voters are closer.
    const score = new Map(this.labels.map((l) => [l, { votes: 0, closeness: 0 }]));
    for (const n of nearest) {
      const s = /** @type {{ votes: number, closeness: number }} */ (score.get(n.label));
      s.votes++;
      s.closeness += n.similarity;
    }
    return [...score]
      .sort(([, a], [, b]) => b.votes - a.votes || b.closeness - a.closeness)
      .slice(0, topK)
      .map(([label, s]) => ({ label, probability: s.votes / nearest.length }));
  }

  /** Everything needed to load the head again, on the same model: plain JSON data. */
  toJSON() {
    return {
      format: FORMAT,
      version: VERSION,
      model: this.#modelId,
      k: this.#k,
      dim: this.#dim,
      classes: [...this.#classes].map(([label, examples]) => ({ label, examples: examples.map(toBase64) })),
    };
  }

  /** Replaces this head's examples with those in `json` (an object or its JSON text), after checking every field. */
  load(json) {
    let data = json;
    if (typeof json === "string") {
      try {
        data = JSON.parse(json);
      } catch (e) {
        throw invalid(`the head is not valid JSON: ${e.message}`);
      }
    }
    if (data === null || typeof data !== "object") throw invalid("a head must be a JSON object");
    if (data.format !== FORMAT || data.version !== VERSION) throw invalid(`not a ${FORMAT} version ${VERSION} file`);
    if (data.model !== this.#modelId) {
      throw invalid(
        `the head was taught on another model (${String(data.model).slice(0, 80)}), not this one (${this.#modelId})`,
      );
    }
    const k = checkK(data.k);
    const { classes } = data;
    if (!Array.isArray(classes) || classes.length > LIMITS.classes)
      throw invalid(`classes must be an array of at most ${LIMITS.classes}`);
    const dim = data.dim;
    const empty = classes.every((c) => Array.isArray(c?.examples) && c.examples.length === 0);
    if (!(dim === null && empty) && !(Number.isInteger(dim) && dim >= 1 && dim <= LIMITS.dim))
      throw invalid(`dim must be an integer in 1..${LIMITS.dim}`);
    const loaded = new Map();
    let total = 0;
    for (const c of classes) {
      checkLabel(c?.label);
      if (loaded.has(c.label)) throw invalid(`the label "${c.label}" appears twice`);
      if (!Array.isArray(c.examples)) throw invalid(`the examples of "${c.label}" must be an array`);
      total += c.examples.length;
      if (total > LIMITS.examples) throw invalid(`a head holds at most ${LIMITS.examples} examples`);
      loaded.set(
        c.label,
        c.examples.map((e) => fromBase64(e, dim)),
      );
    }
    for (const [label, examples] of loaded) if (!examples.length) loaded.delete(label);
    this.#k = k;
    this.#classes = loaded;
    this.#dim = loaded.size ? dim : null;
    return this;
  }
}
