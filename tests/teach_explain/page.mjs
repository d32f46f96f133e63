// Teach and explain test page: a head taught in the browser on augmented
// crops of real photos, then asked about held-out crops; class activation maps
// of real photos. Cases are window.* functions for the driver (run.mjs);
// results, errors included, come back as plain data.
import { Classifier } from "/pkg/index.js";
import { photo, wrap } from "/testkit/page.mjs";

// A seeded augmented crop: 45-90% of the shorter side, anywhere, maybe
// mirrored, drawn at a random output size.
function crop(img, rand) {
  const side = Math.min(img.naturalWidth, img.naturalHeight) * (0.45 + 0.45 * rand());
  const x = (img.naturalWidth - side) * rand();
  const y = (img.naturalHeight - side) * rand();
  const out = Math.round(160 + 160 * rand());
  const canvas = new OffscreenCanvas(out, out);
  const ctx = canvas.getContext("2d");
  if (rand() < 0.5) {
    ctx.translate(out, 0);
    ctx.scale(-1, 1);
  }
  ctx.drawImage(img, x, y, side, side, 0, 0, out, out);
  return canvas;
}

window.teachCase = wrap(async ({ photos, teach, heldOut, seed, worker }) => {
  let state = seed >>> 0;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const clf = await Classifier.create({ backend: "cpu", worker });
  const head = clf.createHead({ k: 5 });
  const imgs = await Promise.all(photos.map((p) => photo(p.file)));
  for (let i = 0; i < teach; i++) {
    for (const [j, p] of photos.entries()) await head.add(p.label, crop(imgs[j], rand));
  }
  let right = 0;
  const wrong = [];
  for (let i = 0; i < heldOut; i++) {
    for (const [j, p] of photos.entries()) {
      const top = await head.classify(crop(imgs[j], rand), { topK: 2 });
      if (top[0].label === p.label) right++;
      else wrong.push({ want: p.label, got: top });
    }
  }
  const saved = JSON.stringify(head);
  const again = clf.loadHead(saved);
  const probe = crop(imgs[0], rand);
  const same = JSON.stringify(await again.classify(probe)) === JSON.stringify(await head.classify(probe));
  const counts = Object.fromEntries(head.labels.map((l) => [l, head.count(l)]));
  clf.dispose();
  return {
    right,
    total: heldOut * photos.length,
    wrong: wrong.slice(0, 5),
    counts,
    roundTrip: same,
    bytes: saved.length,
    modelId: clf.modelId,
  };
});

// The coffee photo's espresso map on `backend`, from explain() and from
// classify's explain option (one pass), and the same pass's top-5 against a plain
// classify; a model without global average pooling is refused.
window.explainCase = wrap(async ({ backend, worker, plainModel }) => {
  const clf = await Classifier.create({ backend, worker });
  const img = await photo("coffee.png");
  const cam = await clf.explain(img, { classIndex: 967 });
  const both = await clf.classify(img, { topK: 5, explain: true });
  const plain = await clf.classify(img, { topK: 5 });
  const other = await clf.explain(img, { classIndex: 281 });
  const badIndex = await clf.explain(img, { classIndex: -1 }).then(
    () => "accepted",
    (e) => e.code,
  );
  const outOfRange = await clf.explain(img, { classIndex: 5000 }).then(
    () => "accepted",
    (e) => e.code,
  );
  clf.dispose();
  const noPool = await Classifier.create({ model: plainModel, backend: "cpu" });
  const unsupported = await noPool.explain(img).then(
    () => "accepted",
    (e) => e.code,
  );
  noPool.dispose();
  const peak = (e) => {
    let at = 0;
    e.heatmap.forEach((v, i) => {
      if (v > e.heatmap[at]) at = i;
    });
    return { row: Math.floor(at / e.width), column: at % e.width };
  };
  const maxDiff = Math.max(...cam.heatmap.map((v, i) => Math.abs(v - both.explanation.heatmap[i])));
  return {
    backend: clf.backend,
    cam: {
      classIndex: cam.classIndex,
      label: cam.label,
      width: cam.width,
      height: cam.height,
      crop: cam.crop,
      peak: peak(cam),
    },
    heatmap: Array.from(cam.heatmap),
    explainedTop: both.explanation.classIndex,
    sameMap: maxDiff,
    onePassTop: both.predictions.map((p) => [p.index, p.probability]),
    plainTop: plain.map((p) => [p.index, p.probability]),
    otherClass: {
      classIndex: other.classIndex,
      label: other.label,
      differs: other.heatmap.some((v, i) => v !== cam.heatmap[i]),
    },
    badIndex,
    outOfRange,
    unsupported,
  };
});

window.ready = true;
