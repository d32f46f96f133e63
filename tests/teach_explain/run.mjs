// Few-shot teaching and class activation maps in headless Chromium on the
// real default model: a head taught on augmented crops of two photos
// classifies held-out crops of them, on the main thread and in worker mode;
// the saved head loads back the same. The coffee photo's espresso map equals
// the native CLI's and peaks on the cup, on the CPU and on WebGPU, in one pass
// with the top-5. With CI=true a missing browser or adapter FAILS.
// Usage: node tests/teach_explain/run.mjs   (after `make pkg` and `cargo build --release`)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, ROOT, needFiles, readNpy } from "../../testkit/common.mjs";
import { check, missing } from "../../testkit/report.mjs";
import { openTestPage } from "../../testkit/test_page.mjs";

const TEACH = 10; // crops per class taught
const HELD_OUT = 20; // crops per class asked about
const PHOTOS = [
  { file: "chelsea.png", label: "my cat" },
  { file: "coffee.png", label: "my cup" },
];

needFiles(["pkg/index.js", "pkg/head.js", "pkg/model/default.wrn"]);
// The CLI's espresso map of the same photo, on the same model file.
const tmp = mkdtempSync(join(tmpdir(), "webresnet-explain-"));
const cliCam = join(tmp, "cam.npy");
execFileSync(CLI, [
  "explain",
  join(ROOT, ".cache", "photos", "coffee.png"),
  "--model",
  join(ROOT, "pkg", "model", "default.wrn"),
  "--class",
  "967",
  "--output",
  cliCam,
]);
const cli = readNpy(cliCam);
rmSync(tmp, { recursive: true, force: true });
// The cup in coffee.png's 7x7 map (rows, columns; inclusive), as tests/explain.py has it.
const CUP = { rows: [1, 4], columns: [1, 5] };

const { page, checks } = await openTestPage("teach_explain", "teach and explain");
await checks(async () => {
  for (const worker of [false, true]) {
    const r = await page.evaluate((a) => window.teachCase(a), {
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
  const gpu = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  if (!gpu) missing("WebGPU explain checks: no adapter in headless Chromium");
  for (const [backend, worker] of [["cpu", false], ["cpu", true], ...(gpu ? [["webgpu", false]] : [])]) {
    const where = `${backend}${worker ? " (worker)" : ""}`;
    const r = await page.evaluate((a) => window.explainCase(a), {
      backend,
      worker,
      plainModel: "/.cache/models/torch_plumbing.onnx",
    });
    if (r.error) {
      check(false, `explain on ${where}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    const range = Math.max(...cli.data) - Math.min(...cli.data);
    const diff = Math.max(...r.heatmap.map((v, i) => Math.abs(v - cli.data[i])));
    const tol = backend === "webgpu" ? 1e-3 : 1e-4;
    const { row, column } = r.cam.peak;
    const onCup = row >= CUP.rows[0] && row <= CUP.rows[1] && column >= CUP.columns[0] && column <= CUP.columns[1];
    check(
      r.cam.label === "espresso" && r.cam.width === 7 && r.cam.height === 7 && diff <= tol * range && onCup,
      `${where} (${r.backend}): espresso map ${r.cam.width}x${r.cam.height} over ${JSON.stringify(r.cam.crop)}, ` +
        `${(diff / range).toExponential(2)} of its range from the CLI's (limit ${tol}), peak at row ${row}, column ${column} (the cup)`,
    );
    const topDiff = Math.max(...r.onePassTop.map(([, p], i) => Math.abs(p - r.plainTop[i][1])));
    check(
      r.explainedTop === 967 &&
        r.sameMap === 0 &&
        r.onePassTop.map(([i]) => i).join() === r.plainTop.map(([i]) => i).join() &&
        topDiff <= tol,
      `${where}: classify with explain gives the top-1's map (the same as explain's) and the plain top-5 ` +
        `(${r.onePassTop.map(([i]) => i)}; max |dp| ${topDiff.toExponential(2)})`,
    );
    check(
      r.otherClass.label === "tabby" &&
        r.otherClass.differs &&
        r.badIndex === "INVALID_INPUT" &&
        r.outOfRange === "INVALID_INPUT" &&
        r.unsupported === "UNSUPPORTED_MODEL",
      `${where}: class 281's map is its own (${r.otherClass.label}); classIndex -1 ${r.badIndex}, 5000 ${r.outOfRange}; a model without global pooling ${r.unsupported}`,
    );
  }
});
