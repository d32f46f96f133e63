// The webcam: start/stop, the list of cameras, and what its errors mean.
// The frame loop is the package's (classifyVideo).

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
