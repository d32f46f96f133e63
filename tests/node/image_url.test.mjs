// Images named by a URL, in Node on the real package: fetched over HTTP
// (a string or a URL object), read from disk (a relative path or a file:
// URL), through classify, explain, embed and a head; and each way that can
// fail, with its code, leaving the classifier working.
// Usage: node --test tests/node/image_url.test.mjs   (after `make pkg`)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import { ROOT } from "../../testkit/common.mjs";
import { failure, listen } from "../../testkit/node_test.mjs";

const { Classifier } = await import(join(ROOT, "pkg", "index.js"));
const coffeePath = join(ROOT, ".cache", "photos", "coffee.png");
const coffee = readFileSync(coffeePath);
const ESPRESSO = 967;

// "/coffee.png": the photo; "/page.png": an HTML page under an image's name;
// anything else: 404.
let server;
let origin;
const requests = [];
let clf;
before(async () => {
  ({ server, origin } = await listen((req, res) => {
    requests.push(req.url);
    if (req.url === "/coffee.png") res.writeHead(200, { "content-type": "image/png" }).end(coffee);
    else if (req.url === "/page.png") res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><p>hi");
    else res.writeHead(404).end();
  }));
  clf = await Classifier.create({ backend: "cpu" });
});
after(() => {
  clf?.dispose();
  server.close();
});

test("an image named by URL classifies as its bytes do, fetched or read from disk", { timeout: 60_000 }, async () => {
  const fromBytes = await clf.classify(coffee);
  assert.equal(fromBytes[0].index, ESPRESSO);
  const named = {
    "an http URL string": `${origin}/coffee.png`,
    "a URL object": new URL("/coffee.png", origin),
    "a path relative to the working directory": relative(process.cwd(), coffeePath),
    "a file: URL": pathToFileURL(coffeePath),
    "a data: URL": `data:image/png;base64,${coffee.toString("base64")}`,
  };
  for (const [what, source] of Object.entries(named)) {
    assert.deepEqual(await clf.classify(source), fromBytes, what);
  }
  assert.equal(requests.filter((u) => u === "/coffee.png").length, 2, "each http source fetched once");
});

test("embed, explain and a head take URLs too", { timeout: 60_000 }, async () => {
  const url = `${origin}/coffee.png`;
  assert.deepEqual(await clf.embed(url), await clf.embed(coffee));
  const e = await clf.explain(url);
  assert.equal(e.classIndex, ESPRESSO);
  assert.deepEqual(e.heatmap, (await clf.explain(coffee)).heatmap);
  const { predictions } = await clf.classify(url, { explain: true });
  assert.equal(predictions[0].index, ESPRESSO);
  const head = clf.createHead({ k: 1 });
  await head.add("my coffee", url);
  const [top] = await head.classify(coffee);
  assert.equal(top.label, "my coffee");
});

test("each failure has its code, and the classifier goes on", { timeout: 60_000 }, async () => {
  const cases = [
    ["an HTTP 404", `${origin}/missing.png`, "NETWORK", /HTTP 404/],
    ["a server that is not there", "http://127.0.0.1:9/coffee.png", "NETWORK", /cannot fetch the image/],
    ["a missing file", "no-such-dir/coffee.png", "NETWORK", /no-such-dir/],
    ["a page that is not an image", `${origin}/page.png`, "IMAGE_DECODE", /./],
    ["an empty string", "", "INVALID_INPUT", /empty/],
    ["a string that is no URL", "http://[oops", "INVALID_INPUT", /not a URL/],
  ];
  for (const [what, source, code, message] of cases) {
    const e = await failure(clf.classify(source));
    assert.equal(e.code, code, `${what}: ${e.message}`);
    assert.match(e.message, message, what);
  }
  const head = clf.createHead();
  assert.equal((await failure(head.add("x", `${origin}/missing.png`))).code, "NETWORK");
  assert.equal(head.count("x"), 0);
  assert.equal((await clf.classify(`${origin}/coffee.png`))[0].index, ESPRESSO);
});

test("options are checked before anything is fetched", { timeout: 20_000 }, async () => {
  const before = requests.length;
  const e = await failure(clf.classify(`${origin}/coffee.png`, { topK: 0 }));
  assert.equal(e.code, "INVALID_INPUT");
  assert.equal(requests.length, before);
});
