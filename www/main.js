// The demo page: wires the controls to the model holder, the inputs and the camera.
// `?model=default|opennsfw` and `?backend=auto|webgpu|cpu` preset the choices.
import { ModelHolder, explain, webgpuProblem } from "./model_holder.js";
import { Camera, explainCameraError, listCameras } from "./camera.js";
import { wireInputs } from "./inputs.js";
import { drawPreview, fmtMs, renderTop, say } from "./view.js";
import { TeachPanel } from "./teach.js";
import { drawHeatmap, videoContentRect } from "./heatmap.js";
import { Gallery } from "./gallery.js";

const $ = (id) => document.getElementById(id);
const backendRadios = () => [...document.querySelectorAll("input[name=backend]")];
const chosenBackend = () => backendRadios().find((r) => r.checked).value;

const holder = new ModelHolder(onBackendChange);
const teach = new TeachPanel(
  holder,
  {
    name: $("teach-name"),
    capture: $("teach-capture"),
    photos: $("teach-photos"),
    exportButton: $("teach-export"),
    importInput: $("teach-import"),
    clear: $("teach-clear"),
    list: $("teach-classes"),
    live: $("teach-live"),
    status: $("teach-status"),
  },
  (e) => showError(e),
);
let ownModel = null; // { name, bytes }: a model file picked from disk
let active = null; // { model, backend } the classifier in use was made with
let loading = Promise.resolve(); // loads run one after another; classifying waits
let newestLoad = null; // the AbortController of the load asked for last

function showError(e) {
  say($("error"), typeof e === "string" ? e : explain(e));
}

function showTimes(ms, firstMs) {
  $("latency").textContent = fmtMs(ms);
  if (firstMs !== null) $("first-result").textContent = fmtMs(firstMs);
}

// The GPU device was lost under the model in use, and the package moved on:
// to a new device, or (under "auto", with none to be had) to the CPU. The
// person is told, since the page may pause or answer more slowly.
function onBackendChange({ backend, text, why, reason }) {
  $("backend").textContent = text;
  $("backend-reason").textContent = why;
  const news =
    backend === "webgpu"
      ? "The GPU device was lost and a new one was opened: the model still runs on the GPU."
      : "The GPU stopped working and no new GPU device could be opened, so the model now runs on the CPU: " +
        "the page carries on, more slowly. Choose WebGPU above to try the GPU again.";
  say($("notice"), `${news} Details: ${reason}.`);
}

// ---- model and backend ----

function onProgress({ loaded, total, phase }) {
  const bar = $("progress");
  const words = { download: "Downloading the model", compile: "Compiling", warmup: "Warming up" };
  let text = words[phase] ?? "Loading the model";
  if (phase === "download" && total) {
    bar.value = loaded / total;
    text += ` (${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB)`;
  } else {
    bar.removeAttribute("value"); // indeterminate: no byte count for this phase
  }
  $("progress-label").textContent = `${text}…`;
}

// Under "Auto" on the CPU: WebGPU is missing here, or "Auto" found the CPU
// the better choice (the reason says which).
async function describeFallback(requested, { backend, fallbackReason }) {
  if (backend === "webgpu" || requested === "cpu") return "";
  const problem = await webgpuProblem();
  if (problem) return `WebGPU is unavailable, so the CPU path is in use: ${problem}.`;
  return `Auto chose the CPU path: ${fallbackReason ?? "WebGPU failed to start on this GPU"}.`;
}

async function load(model, backend, signal) {
  if (signal.aborted) return; // a newer choice came before this one started
  document.body.dataset.model = "loading";
  $("progress-field").hidden = false;
  onProgress({ phase: "download" });
  try {
    const info = await holder.load(model, backend, onProgress, signal);
    active = { model, backend };
    // A failed load queued before this one may have set them back meanwhile.
    showActiveControls();
    $("backend").textContent = info.text;
    $("backend-reason").textContent = info.why;
    $("model-name").textContent = info.name;
    $("load-time").textContent = fmtMs(info.loadMs);
    $("first-result").textContent = "—";
    say($("notice"), await describeFallback(backend, info));
    say($("error"), "");
    await teach.modelChanged();
    if (lastPhoto) classifyImage(lastPhoto);
    gallery.relabel();
  } catch (e) {
    // Cancelled for a newer choice, which is queued: the controls show that one.
    if (e?.code === "ABORTED") return;
    showError(e);
    showActiveControls();
  } finally {
    $("progress-field").hidden = true;
    document.body.dataset.model = holder.ready ? "ready" : "failed";
  }
}

// The controls show what is actually running.
function showActiveControls() {
  if (!active) return;
  $("model").value = typeof active.model === "string" ? active.model : "own";
  $("own-model-field").hidden = $("model").value !== "own";
  for (const r of backendRadios()) r.checked = r.value === active.backend;
}

function reload() {
  const key = $("model").value;
  $("own-model-field").hidden = key !== "own";
  const model = key === "own" ? ownModel : key;
  if (!model) return; // "own" chosen, no file picked yet
  const backend = chosenBackend();
  // The person changed their mind: the load under way (or queued) gives way.
  newestLoad?.abort();
  const controller = new AbortController();
  newestLoad = controller;
  loading = loading.then(() => load(model, backend, controller.signal));
}

$("model").addEventListener("change", reload);
for (const r of backendRadios()) r.addEventListener("change", reload);
$("own-model").addEventListener("change", async () => {
  const file = $("own-model").files[0];
  if (!file) return;
  ownModel = { name: file.name, bytes: await file.arrayBuffer() };
  $("own-model").value = "";
  reload();
});

// ---- photos ----

const why = () => $("why").checked;
let lastPhoto = null; // { blob, name }: shown again with or without its heatmap, or on a new model
let photoRequest = 0; // only the newest photo request fills the photo view

async function classifyImage(photo) {
  lastPhoto = photo;
  const request = ++photoRequest;
  const { blob, name } = photo;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none" });
  } catch {
    if (request !== photoRequest) return;
    const type = blob.type ? ` (its type is ${blob.type})` : "";
    showError(`"${name}" is not an image the browser can decode${type}. Try a JPEG, PNG, WebP or GIF.`);
    return;
  }
  try {
    if (request !== photoRequest) return;
    say($("error"), "");
    drawPreview($("preview"), bitmap, name);
    const list = $("image-top");
    list.replaceChildren();
    delete list.dataset.for;
    $("image-name").textContent = `${name}: classifying…`;
    await loading;
    try {
      const r = await holder.classify(bitmap, { explain: why() });
      if (request !== photoRequest) return;
      renderTop(list, r.top);
      const canvas = $("preview");
      if (r.explanation) {
        drawHeatmap(canvas.getContext("2d"), r.explanation, { x: 0, y: 0, width: canvas.width, height: canvas.height });
        canvas.dataset.heatmap = r.explanation.label;
      } else delete canvas.dataset.heatmap;
      list.dataset.for = name;
      $("image-name").textContent = name;
      showTimes(r.ms, r.firstMs);
      gallery.captionShown(photo, { top: r.top });
    } catch (e) {
      // The model was replaced while this photo was on it: the new model's
      // load asks again.
      if (request !== photoRequest || e?.code === "DISPOSED") return;
      list.dataset.for = name;
      $("image-name").textContent = name;
      showError(e);
      gallery.captionShown(photo, { error: e });
    }
  } finally {
    bitmap.close();
  }
}

const gallery = new Gallery($("gallery"), $("gallery-note"), {
  classify: async (bitmap) => {
    await loading;
    const r = await holder.classify(bitmap);
    showTimes(r.ms, r.firstMs);
    return r.top;
  },
  open: classifyImage,
});

// The first photo in the photo view; two or more in the gallery too.
function showPhotos(photos) {
  classifyImage(photos[0]);
  gallery.show(photos);
}

wireInputs({
  fileInput: $("file"),
  dropZone: $("drop"),
  samples: $("samples"),
  onImages: showPhotos,
  onError: showError,
});

// ---- camera ----

const video = $("video");
const camera = new Camera(video);
const smoothing = () => Number($("smoothing").value);

// The package's video loop: one frame in flight, the rest dropped, results
// smoothed over time. It follows the model when another one is loaded.
function watchCamera() {
  holder.watchVideo(video, {
    smoothing: smoothing(),
    onResult: (r) => {
      renderTop($("camera-top"), r.top);
      $("frame-latency").textContent = fmtMs(r.ms);
      if (r.fps !== null) $("fps").textContent = r.fps.toFixed(r.fps < 10 ? 1 : 0);
      showTimes(r.ms, r.firstMs);
      teach.liveFrame(video);
      if (why()) explainFrame();
    },
    onError: (e) => {
      if (e.code === "STREAM_ENDED") stopCamera();
      showError(e);
    },
  });
}

// The camera's heatmap: one frame explained at a time, drawn over the video.
let explaining = false;
async function explainFrame() {
  if (explaining || video.readyState < 2) return;
  explaining = true;
  const canvas = $("camera-heat");
  try {
    const e = await holder.explain(video);
    // Unticked meanwhile: the change handler has cleared the overlay.
    if (!why()) return;
    canvas.width = video.clientWidth;
    canvas.height = video.clientHeight;
    drawHeatmap(canvas.getContext("2d"), e, videoContentRect(video));
    canvas.dataset.heatmap = e.label;
  } catch (e) {
    if (e?.code !== "DISPOSED") showError(e);
  } finally {
    explaining = false;
  }
}

$("why").addEventListener("change", () => {
  if (!why()) {
    const canvas = $("camera-heat");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    delete canvas.dataset.heatmap;
  }
  if (lastPhoto) classifyImage(lastPhoto);
});

$("smoothing").addEventListener("input", () => {
  $("smoothing-value").textContent = smoothing().toFixed(2);
  holder.setSmoothing(smoothing());
});

async function startCamera(deviceId) {
  const button = $("camera-toggle");
  button.disabled = true;
  $("camera-top").replaceChildren();
  try {
    await camera.start(deviceId);
    video.parentElement.classList.add("live");
    say($("error"), "");
    await fillCameraList();
    watchCamera();
  } catch (e) {
    camera.stop();
    video.parentElement.classList.remove("live");
    showError(explainCameraError(e));
  } finally {
    button.disabled = false;
    button.textContent = camera.running ? "Stop camera" : "Start camera";
    button.setAttribute("aria-pressed", String(camera.running));
  }
}

function stopCamera() {
  holder.stopVideo();
  camera.stop();
  video.parentElement.classList.remove("live");
  $("camera-top").replaceChildren();
  $("fps").textContent = "—";
  $("frame-latency").textContent = "—";
  $("camera-toggle").textContent = "Start camera";
  $("camera-toggle").setAttribute("aria-pressed", "false");
}

// Device labels are only readable once permission is granted, so the list
// is filled after the first start. The selector shows when there is a choice.
async function fillCameraList() {
  const cams = await listCameras();
  const select = $("camera-select");
  select.replaceChildren(
    ...cams.map((c, i) => {
      const o = document.createElement("option");
      o.value = c.deviceId;
      o.textContent = c.label || `Camera ${i + 1}`;
      return o;
    }),
  );
  select.value = camera.deviceId ?? "";
  $("camera-field").hidden = cams.length < 2;
}

$("camera-toggle").addEventListener("click", () => (camera.running ? stopCamera() : startCamera()));
$("camera-select").addEventListener("change", () => {
  holder.stopVideo();
  startCamera($("camera-select").value);
});

// ---- device benchmark ----

const BENCH_STEPS = { webgpu: "Timing WebGPU", cpu: "Timing the CPU", auto: 'Asking "Auto"' };

// One line per backend: "WebGPU: cold 1.20 s, warm 15 ms (median of 5)".
function benchLine({ backend, error, coldMs, warmMs, ran }) {
  const name = backend === "webgpu" ? "WebGPU" : "CPU";
  if (error) return `${name}: not available (${error})`;
  return `${name} (${ran}): cold ${fmtMs(coldMs)}, warm ${fmtMs(warmMs.median)} (median of ${warmMs.runs.length})`;
}

async function runBenchmark() {
  const run = $("bench-run");
  run.disabled = true;
  $("bench-copy").disabled = true;
  const status = $("bench-status");
  await loading;
  try {
    const result = await holder.benchmark(({ step }) => {
      status.textContent = `${BENCH_STEPS[step]}…`;
    });
    const items = [...result.backends.map(benchLine), `Auto takes ${result.auto.backend}: ${result.auto.reason}`];
    $("bench-summary").replaceChildren(
      ...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })),
    );
    const json = $("bench-json");
    json.textContent = JSON.stringify(result, null, 2);
    json.hidden = false;
    $("bench-copy").disabled = false;
    status.textContent = `Done, on ${result.model}.`;
  } catch (e) {
    status.textContent = "The benchmark failed.";
    showError(e);
  } finally {
    run.disabled = false;
  }
}

// The clipboard may be refused (permissions, an insecure context): then the
// text is selected for the person to copy.
async function copyBenchmark() {
  const json = $("bench-json");
  try {
    await navigator.clipboard.writeText(json.textContent);
    $("bench-status").textContent = "The results are on the clipboard.";
  } catch {
    getSelection()?.selectAllChildren(json);
    $("bench-status").textContent = "The clipboard is not available here: the results are selected, copy them.";
  }
}

$("bench-run").addEventListener("click", runBenchmark);
$("bench-copy").addEventListener("click", copyBenchmark);

// ---- start ----

const params = new URLSearchParams(location.search);
if (["default", "opennsfw"].includes(params.get("model"))) $("model").value = params.get("model");
for (const r of backendRadios()) {
  if (r.value === params.get("backend")) r.checked = true;
}
reload();
