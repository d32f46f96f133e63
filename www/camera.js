// The webcam: start/stop, the list of cameras, and a frame loop that keeps at
// most one frame in flight. A frame that arrives while the previous one is
// still being classified is dropped, so the results follow the live picture
// instead of falling ever further behind it.

export async function listCameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === "videoinput");
}

export class Camera {
  #video;
  #stream = null;

  constructor(video) {
    this.#video = video;
  }

  get running() {
    return this.#stream !== null;
  }

  // The id of the camera in use, once started.
  get deviceId() {
    return this.#stream?.getVideoTracks()[0]?.getSettings().deviceId ?? null;
  }

  async start(deviceId) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw Object.assign(new Error("no camera API"), { name: "NoMediaDevices" });
    }
    this.stop();
    const video = deviceId ? { deviceId: { exact: deviceId } } : { width: { ideal: 640 }, height: { ideal: 480 } };
    this.#stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    this.#video.srcObject = this.#stream;
    await this.#video.play();
  }

  stop() {
    for (const t of this.#stream?.getTracks() ?? []) t.stop();
    this.#stream = null;
    this.#video.srcObject = null;
  }
}

// A sentence for the page from getUserMedia's errors.
export function explainCameraError(e) {
  switch (e?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return (
        "Camera access was denied. Allow the camera for this page in the browser's site settings, " +
        "then press Start camera again."
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Plug one in, or classify a photo instead.";
    case "NotReadableError":
    case "AbortError":
      return "The camera could not be opened; another application may be using it.";
    case "NoMediaDevices":
      return "This browser offers no camera access here (it needs https or localhost).";
    default:
      return `The camera failed: ${e?.message ?? e}`;
  }
}

// Classifies frames of `video` with `classify(frame)` while `camera` runs.
// `onResult(result, fps)` sees each result; `onError(e)` each failure (the
// loop goes on: one bad frame must not stop the stream).
export class FrameLoop {
  #busy = false;
  #running = false;
  #gen = 0; // a restart ends the earlier callback chain and drops its results
  #done = []; // completion times of recent results, for the FPS

  constructor(video, classify, onResult, onError) {
    this.video = video;
    this.classify = classify;
    this.onResult = onResult;
    this.onError = onError;
  }

  start() {
    this.#running = true;
    this.#done = [];
    this.#next(++this.#gen);
  }

  stop() {
    this.#running = false;
  }

  #live(gen) {
    return this.#running && gen === this.#gen;
  }

  #next(gen) {
    if (!this.#live(gen)) return;
    const v = this.video;
    if ("requestVideoFrameCallback" in v) v.requestVideoFrameCallback(() => this.#frame(gen));
    else requestAnimationFrame(() => this.#frame(gen));
  }

  #frame(gen) {
    if (!this.#live(gen)) return;
    if (!this.#busy && this.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) {
      this.#busy = true;
      this.classify(this.video)
        .then((r) => {
          if (this.#live(gen)) this.onResult(r, this.#tick());
        })
        .catch((e) => this.#live(gen) && this.onError(e))
        .finally(() => {
          this.#busy = false;
        });
    }
    this.#next(gen);
  }

  // Results per second over the last few results; null until there are two.
  #tick() {
    const now = performance.now();
    this.#done.push(now);
    if (this.#done.length > 10) this.#done.shift();
    const n = this.#done.length;
    if (n < 2) return null;
    return ((n - 1) * 1000) / (now - this.#done[0]);
  }
}
