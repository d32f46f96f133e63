// The package's result filtering and video smoothing (src/js/predictions.js), in Node.
// Usage: node --test tests/node/
import assert from "node:assert/strict";
import { test } from "node:test";
import { Smoother, predictionFilter } from "../../src/js/predictions.js";

const p = (index, probability, label = `class${index}`) => ({ index, label, probability });
const codeOf = (f) => {
  try {
    f();
  } catch (e) {
    return e.code;
  }
  return "no error";
};

test("the filter keeps the top k above the threshold, allowed and not denied", () => {
  const list = [p(1, 0.5, "cat"), p(2, 0.3, "dog"), p(3, 0.15, "cup"), p(4, 0.05, "car")];
  assert.deepEqual(predictionFilter({ topK: 2 }).apply(list), list.slice(0, 2));
  assert.deepEqual(predictionFilter({ scoreThreshold: 0.2 }).apply(list), list.slice(0, 2));
  assert.deepEqual(predictionFilter({ allow: ["cup", "car"] }).apply(list), list.slice(2));
  assert.deepEqual(predictionFilter({ deny: ["cat"], topK: 2 }).apply(list), list.slice(1, 3));
  assert.equal(predictionFilter({ topK: 3 }).wide, false);
  assert.equal(predictionFilter({ deny: ["cat"] }).wide, true);
});

test("bad filter options are INVALID_INPUT", () => {
  for (const bad of [
    { topK: 0 },
    { topK: 1.5 },
    { scoreThreshold: 2 },
    { scoreThreshold: "0.1" },
    { allow: "cat" },
    { deny: [1] },
  ]) {
    assert.equal(
      codeOf(() => predictionFilter(bad)),
      "INVALID_INPUT",
      JSON.stringify(bad),
    );
  }
  for (const bad of [{ smoothing: 1 }, { smoothing: -0.1 }, { hysteresis: 1 }]) {
    assert.equal(
      codeOf(() => new Smoother(bad)),
      "INVALID_INPUT",
      JSON.stringify(bad),
    );
  }
});

test("smoothing: the first frame as it is, then an exponential average with missing classes at 0", () => {
  const s = new Smoother({ smoothing: 0.75, hysteresis: 0 });
  assert.deepEqual(s.push([p(1, 0.8), p(2, 0.2)]), [p(1, 0.8), p(2, 0.2)]);
  const second = s.push([p(2, 1)]);
  assert.equal(second[0].index, 1);
  assert.ok(Math.abs(second[0].probability - 0.6) < 1e-12); // 0.75 * 0.8 + 0.25 * 0
  assert.ok(Math.abs(second[1].probability - 0.4) < 1e-12); // 0.75 * 0.2 + 0.25 * 1
  const none = new Smoother({ smoothing: 0 });
  none.push([p(1, 0.9)]);
  assert.deepEqual(none.push([p(2, 0.7), p(1, 0.3)]), [p(2, 0.7), p(1, 0.3)]);
});

test("hysteresis: two near-equal classes that swap each frame don't flicker the leader", () => {
  const s = new Smoother({ smoothing: 0, hysteresis: 0.05 });
  const leaders = [];
  for (let i = 0; i < 10; i++) {
    const [a, b] = i % 2 ? [0.49, 0.51] : [0.51, 0.49];
    leaders.push(s.push([p(1, a), p(2, b)])[0].index);
  }
  assert.deepEqual(new Set(leaders), new Set([1]));
  // Passed by more than the margin, the leader changes.
  assert.equal(s.push([p(1, 0.3), p(2, 0.7)])[0].index, 2);
  // Without hysteresis the same input flickers.
  const plain = new Smoother({ smoothing: 0, hysteresis: 0 });
  const flips = [0, 1, 2, 3].map(
    (i) => plain.push(i % 2 ? [p(1, 0.49), p(2, 0.51)] : [p(1, 0.51), p(2, 0.49)])[0].index,
  );
  assert.deepEqual(flips, [1, 2, 1, 2]);
});

test("smoothing damps a one-frame outlier", () => {
  const s = new Smoother({ smoothing: 0.8, hysteresis: 0.05 });
  for (let i = 0; i < 5; i++) s.push([p(1, 0.9), p(2, 0.1)]);
  assert.equal(s.push([p(1, 0.05), p(2, 0.95)])[0].index, 1);
});
