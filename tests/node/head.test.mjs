// Taught heads (src/js/head.js) in Node on the real package and the real
// default model: teaching from photos, toJSON/loadHead round trips, another
// model's head refused, and hostile head files refused with INVALID_INPUT.
// Usage: node --test tests/node/head.test.mjs   (after `make pkg`)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { MODELS, ROOT } from "../../testkit/common.mjs";

const { Classifier } = await import(join(ROOT, "pkg", "index.js"));
const photo = (name) => readFileSync(join(ROOT, ".cache", "photos", name));
const codeOf = async (f) => {
  try {
    await f();
  } catch (e) {
    return e.code;
  }
  return "no error";
};

let clf;
let other;
before(async () => {
  clf = await Classifier.create({ backend: "cpu" });
  other = await Classifier.create({ model: readFileSync(join(MODELS, "mobilenet_small.onnx")), backend: "cpu" });
});

test("a head taught on photos names them, and round-trips through JSON", async () => {
  const head = clf.createHead({ k: 1 });
  await head.add("cat", photo("chelsea.png"));
  await head.add("cup", photo("coffee.png"));
  await head.add("rocket", photo("rocket.jpg"));
  assert.deepEqual(head.labels, ["cat", "cup", "rocket"]);
  assert.equal(head.count("cat"), 1);
  assert.equal(head.count("dog"), 0);
  for (const [name, label] of [
    ["chelsea.png", "cat"],
    ["coffee.png", "cup"],
    ["rocket.jpg", "rocket"],
  ]) {
    const top = await head.classify(photo(name));
    assert.equal(top[0].label, label, name);
    assert.equal(top[0].probability, 1);
  }
  const text = JSON.stringify(head);
  const again = clf.loadHead(text);
  assert.deepEqual(again.labels, head.labels);
  assert.deepEqual(await again.classify(photo("astronaut.png")), await head.classify(photo("astronaut.png")));
  assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(text));
  head.remove("rocket");
  assert.deepEqual(head.labels, ["cat", "cup"]);
  head.clear();
  assert.equal(await codeOf(() => head.classify(photo("chelsea.png"))), "INVALID_INPUT");
});

test("another model's head is refused", async () => {
  const head = other.createHead();
  await head.add("cat", photo("chelsea.png"));
  assert.notEqual(other.modelId, clf.modelId);
  assert.equal(await codeOf(() => clf.loadHead(head.toJSON())), "INVALID_INPUT");
});

test("hostile head files are refused with INVALID_INPUT", async () => {
  const head = clf.createHead({ k: 3 });
  await head.add("cat", photo("chelsea.png"));
  await head.add("cup", photo("coffee.png"));
  const good = head.toJSON();
  const variants = {
    "not JSON": "{",
    null: "null",
    "an array": [],
    "another format": { ...good, format: "other" },
    "a newer version": { ...good, version: 2 },
    "k 0": { ...good, k: 0 },
    "k huge": { ...good, k: 1e9 },
    "dim missing": { ...good, dim: undefined },
    "dim negative": { ...good, dim: -3 },
    "dim off by one": { ...good, dim: good.dim + 1 },
    "classes not an array": { ...good, classes: {} },
    "a label missing": { ...good, classes: [{ examples: good.classes[0].examples }] },
    "an empty label": { ...good, classes: [{ label: "", examples: good.classes[0].examples }] },
    "a huge label": { ...good, classes: [{ label: "x".repeat(10_000), examples: [] }] },
    "a label twice": { ...good, classes: [good.classes[0], good.classes[0]] },
    "examples not an array": { ...good, classes: [{ label: "cat", examples: "AAAA" }] },
    "an example cut short": { ...good, classes: [{ label: "cat", examples: [good.classes[0].examples[0].slice(8)] }] },
    "an example not base64": {
      ...good,
      classes: [{ label: "cat", examples: ["!".repeat(good.classes[0].examples[0].length)] }],
    },
    "an example of zeros": { ...good, classes: [{ label: "cat", examples: [btoa("\0".repeat(4 * good.dim))] }] },
    "an example of NaNs": {
      ...good,
      classes: [
        { label: "cat", examples: [Buffer.from(new Float32Array(good.dim).fill(NaN).buffer).toString("base64")] },
      ],
    },
    "too many classes": {
      ...good,
      classes: Array.from({ length: 10_001 }, (_, i) => ({ label: `c${i}`, examples: [] })),
    },
  };
  for (const [what, data] of Object.entries(variants)) {
    const input = typeof data === "string" ? data : JSON.stringify(data);
    assert.equal(await codeOf(() => clf.loadHead(input)), "INVALID_INPUT", what);
  }
  // Random corruptions of a good file (a seeded fuzz): refused or loaded, never another kind of error.
  const text = JSON.stringify(good);
  let seed = 12345;
  const rand = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    const chars = [...text];
    for (let j = 0; j <= rand(4); j++) chars[rand(chars.length)] = String.fromCharCode(32 + rand(95));
    const code = await codeOf(() => clf.loadHead(chars.join("")));
    assert.ok(code === "no error" || code === "INVALID_INPUT", `corruption ${i}: ${code}`);
  }
  assert.equal(await codeOf(() => head.add("", photo("chelsea.png"))), "INVALID_INPUT");
  assert.equal(await codeOf(() => clf.createHead({ k: 0 })), "INVALID_INPUT");
});
