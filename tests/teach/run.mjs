// Few-shot teaching in headless Chromium on the real default model: a head
// taught on augmented crops of two photos classifies held-out crops of them,
// on the main thread and in worker mode; the saved head loads back the same.
// With CI=true a missing browser FAILS.
// Usage: node tests/teach/run.mjs   (after `make pkg`)
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../testkit/common.mjs";
import { TEST_MOUNTS, serve } from "../../scripts/serve.mjs";
import { openPage } from "../../testkit/chromium.mjs";
import { check, finish, missing } from "../../testkit/report.mjs";

const TEACH = 10; // crops per class taught
const HELD_OUT = 20; // crops per class asked about
const PHOTOS = [
  { file: "chelsea.png", label: "my cat" },
  { file: "coffee.png", label: "my cup" },
];

for (const need of ["pkg/index.js", "pkg/head.js", "pkg/model/default.wrn"]) {
  if (!existsSync(join(ROOT, need))) throw new Error(`${need} missing: run make pkg`);
}
const { server, origin } = await serve({ mounts: { ...TEST_MOUNTS, "/tests/teach/": "tests/teach" } });
let browser;
try {
  browser = await openPage(`${origin}/tests/teach/page.html`);
} catch (e) {
  server.close();
  missing(`teach checks: the browser did not start: ${e.message}`);
  finish("teach");
}
try {
  for (const worker of [false, true]) {
    const r = await browser.page.evaluate((a) => window.teachCase(a), {
      photos: PHOTOS,
      teach: TEACH,
      heldOut: HELD_OUT,
      seed: 7,
      worker,
    });
    const where = worker ? "worker mode" : "main thread";
    if (r.error) {
      check(false, `${where}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    check(
      r.right / r.total >= 0.95,
      `${where}: taught ${JSON.stringify(r.counts)}; held-out crops right ${r.right} of ${r.total}` +
        `${r.wrong.length ? `; wrong: ${JSON.stringify(r.wrong)}` : ""}`,
    );
    check(
      r.roundTrip && typeof r.modelId === "string",
      `${where}: toJSON (${r.bytes} bytes) -> loadHead answers the same; model ${r.modelId}`,
    );
  }
} catch (e) {
  check(false, `${e.stack ?? e}`);
} finally {
  await browser.close();
  server.close();
}
finish("teach");
