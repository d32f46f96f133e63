// classifyVideo in headless Chromium, on the fake webcam and on streams the
// page makes: one frame in flight with the rest dropped, the filters, the
// smoothing, a 500-frame soak with the wasm heap flat, and streams that end,
// stop or give zero-sized frames (each ends or skips with a typed error).
// On the CPU and on WebGPU (SwiftShader). With CI=true a missing browser or
// adapter FAILS.
// Usage: node tests/video/run.mjs [--soak N]   (after `make pkg`)
import { needFiles } from "../../testkit/common.mjs";
import { check, missing } from "../../testkit/report.mjs";
import { openTestPage } from "../../testkit/test_page.mjs";

const i = process.argv.indexOf("--soak");
const SOAK = i < 0 ? 500 : Number(process.argv[i + 1]);
const SMALL = "/.cache/models/torch_plumbing.onnx"; // 10 classes, 64x48 input: quick everywhere
const IMAGENET = "/.cache/models/mobilenet_small.onnx"; // 1000 ImageNet labels, so the filters have names to work on

needFiles(["pkg/index.js", "pkg/video.js", ".cache/models/torch_plumbing.onnx", ".cache/models/mobilenet_small.onnx"]);

const { page, checks } = await openTestPage("video", "video", {
  // 60 frames a second (20 by default), so the camera is not what limits the webcam FPS case.
  args: ["--use-fake-device-for-media-stream=fps=60", "--use-fake-ui-for-media-stream"],
});
const call = (name, arg) => page.evaluate(([n, a]) => window[n](a), [name, arg]);
const failed = (what, r) => r.error && check(false, `${what}: ${r.error.code} ${r.error.message}`);

await checks(async () => {
  const gpu = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  if (!gpu) missing("WebGPU video checks: no adapter in headless Chromium");

  {
    const r = await call("droppingCase", { delayMs: 150, frames: 12 });
    if (!failed("dropping", r)) {
      check(
        r.results === 12 && r.maxInFlight === 1 && r.dropped > 0 && !r.timedOut && r.lateResults === 0,
        `one frame in flight: ${r.results} results with a 150 ms classify, at most ${r.maxInFlight} in flight, ` +
          `${r.dropped} frames dropped, ${r.fps?.toFixed(1)} FPS, latency ${r.latencyMs?.toFixed(0)} ms; nothing after stop()`,
      );
    }
  }

  for (const backend of gpu ? ["cpu", "webgpu"] : ["cpu"]) {
    const frames = backend === "cpu" ? 20 : 6;
    const r = await call("filterCase", { model: backend === "cpu" ? IMAGENET : SMALL, backend, frames });
    if (failed(`filters on ${backend}`, r)) continue;
    check(
      r.errors.length === 0 && r.late === 0,
      `${backend} (${r.backend}): no errors ${JSON.stringify(r.errors)}, nothing after stop()`,
    );
    check(
      r.allowedLabels.length > 0 && r.allowedLabels.every((l) => r.allow.includes(l)),
      `${backend}: allow ${JSON.stringify(r.allow)} -> only ${JSON.stringify(r.allowedLabels)}`,
    );
    check(
      !r.deniedLabels.includes(r.deny[0]) && r.deniedLabels.length > 0,
      `${backend}: deny ${JSON.stringify(r.deny)} never shown`,
    );
    check(
      r.minAboveThreshold >= r.threshold,
      `${backend}: scoreThreshold ${r.threshold.toFixed(4)}: lowest shown ${r.minAboveThreshold.toFixed(4)}`,
    );
    check(
      r.onceLabels.length > 0 && r.onceLabels.every((l) => r.allow.includes(l)) && r.invalid === "INVALID_INPUT",
      `${backend}: classify takes the filters (allow -> ${JSON.stringify(r.onceLabels)}; scoreThreshold 7 -> ${r.invalid})`,
    );
    const { readBacks, gpuCopies, frames: classified } = r.pixels;
    check(
      backend === "webgpu" ? readBacks === 0 && gpuCopies >= classified : readBacks >= classified && gpuCopies === 0,
      `${backend}: ${classified} webcam frames: ${readBacks} pixel read-backs (getImageData/readPixels/copyTo), ` +
        `${gpuCopies} copyExternalImageToTexture (on WebGPU: none and one a frame; on the CPU: the reverse)`,
    );
    // The top-1 probability's spread measures jitter only while the top-1
    // class stays put: where the plain run's leader flips between near-tied
    // classes, the smoothed leader holds on and its own average dips on the
    // frames it loses, so there the leader changes are the measure.
    const steadier =
      r.leaderChanges.plain > 0
        ? r.leaderChanges.smoothed <= r.leaderChanges.plain
        : r.leaderChanges.smoothed === 0 && r.spread.smoothed <= r.spread.plain;
    check(
      steadier,
      `${backend}: smoothing 0.9 vs 0: top-1 probability spread ${r.spread.smoothed.toFixed(4)} vs ${r.spread.plain.toFixed(4)}, ` +
        `leader changes ${r.leaderChanges.smoothed} vs ${r.leaderChanges.plain}; ${r.fps?.toFixed(1)} FPS, latency ${r.latencyMs?.toFixed(0)} ms`,
    );
  }

  if (gpu) {
    const odd = [
      [1, 300],
      [4000, 3],
      [300, 500],
    ];
    const r = await call("sourcesCase", { model: SMALL, photo: "/.cache/photos/chelsea.png", odd });
    if (!failed("every source kind on WebGPU", r)) {
      for (const [kind, s] of Object.entries(r.sources)) {
        check(
          s.readBacks === 0 && s.gpuCopies >= 1 && s.gpu.join() === s.cpu.join(),
          `${kind} on ${r.backend}: ${s.gpuCopies} copyExternalImageToTexture, ${s.readBacks} pixel read-backs; ` +
            `top-5 ${s.gpu} vs the CPU's ${s.cpu} (probabilities within ${s.maxProbabilityDiff.toExponential(2)})`,
        );
      }
    }
  }

  {
    const r = await call("fpsCase", { model: IMAGENET, shape: [1, 3, 224, 224], frames: 60, skip: 10 });
    if (!failed("webcam FPS", r)) {
      check(
        r.results === 60 && r.errors.length === 0 && !r.timedOut,
        `webcam FPS on the CPU (${IMAGENET}): ${r.fps.toFixed(1)} FPS, 1 / pure inference ${(1000 / r.inferMs).toFixed(1)} ` +
          `(median ${r.inferMs.toFixed(1)} ms), so ${r.ratio.toFixed(2)}x (the target is 1.25x at most); ` +
          `median latency ${r.latencyMs.toFixed(1)} ms (1 / latency is ${(1000 / r.latencyMs / r.fps).toFixed(2)}x the FPS), camera ${r.cameraFps} FPS`,
      );
    }
  }

  {
    const r = await call("soakCase", { model: SMALL, backend: "cpu", frames: SOAK, warmup: 50 });
    if (!failed("soak", r)) {
      check(
        r.results === SOAK &&
          r.errors.length === 0 &&
          !r.timedOut &&
          r.lateResults === 0 &&
          r.heapAtEnd === r.heapAtWarmup,
        `soak: ${r.results} webcam frames on the CPU, wasm heap ${r.heapAtWarmup} bytes after 50 and ${r.heapAtEnd} at the end, ` +
          `${r.fps?.toFixed(1)} FPS, median latency ${r.medianLatencyMs?.toFixed(1)} ms, ${r.dropped} dropped, errors ${JSON.stringify(r.errors)}`,
      );
    }
  }

  {
    const r = await call("endingCase", { model: SMALL });
    if (!failed("ending streams", r)) {
      const endedWith = (s, code) => !s.timedOut && s.lateResults === 0 && s.errors.at(-1)?.code === code;
      check(
        endedWith(r.unplugged, "STREAM_ENDED") && r.unplugged.results >= 3,
        `camera unplugged mid-stream: ${JSON.stringify(r.unplugged)}`,
      );
      check(endedWith(r.ended, "STREAM_ENDED"), `a clip played to its end: ${JSON.stringify(r.ended)}`);
      check(
        r.resultsBeforeSize === 0 && r.empty.errors.length === 0 && !r.empty.timedOut && r.empty.results >= 1,
        `zero-sized frames skipped (${r.resultsBeforeSize} results, no error), then classified once sized: ${JSON.stringify(r.empty)}`,
      );
      check(
        endedWith(r.disposed, "DISPOSED") && r.disposed.results === 2,
        `disposed mid-loop: ${JSON.stringify(r.disposed)}`,
      );
      check(
        r.refused.every((c) => c === "INVALID_INPUT"),
        `bad arguments (a canvas, no onResult, smoothing 1, maxFps 0): ${r.refused.join(", ")}`,
      );
    }
  }
});
