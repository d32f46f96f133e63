// Classifies a live video: one frame in flight, frames that arrive while it
// runs are dropped (so results follow the live picture instead of falling
// behind it), results smoothed over time and filtered as the caller asked.
import { WebResnetError, toWebResnetError } from "./errors.js";
import { Smoother, predictionFilter } from "./predictions.js";
import { is } from "./source.js";

// How many classes each frame contributes to the smoothing: enough that a
// class rising from the tail is seen before it leads.
const SMOOTHED_CLASSES = 50;

function checkCallback(options, name, required) {
  const f = options[name];
  if (f === undefined && !required) return () => {};
  if (typeof f !== "function") throw new WebResnetError("INVALID_INPUT", `${name} must be a function`);
  return f;
}

// A <video> to draw frames from: the caller's own, or one playing their stream.
function videoFor(source) {
  if (is(source, "HTMLVideoElement")) return { video: source, owned: false };
  if (!is(source, "MediaStream")) {
    throw new WebResnetError("INVALID_INPUT", "classifyVideo takes an HTMLVideoElement or a MediaStream");
  }
  const video = globalThis.document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = source;
  video.play().catch(() => {}); // an ended or refused stream is reported by the loop
  return { video, owned: true };
}

// Why the stream can give no more frames, or null while it can.
function endedReason(video) {
  if (video.ended) return "the video ended";
  const stream = video.srcObject;
  if (is(stream, "MediaStream")) {
    const tracks = stream.getVideoTracks();
    if (!tracks.length || tracks.every((t) => t.readyState === "ended"))
      return "the camera stopped (unplugged, or its track was stopped)";
  }
  return null;
}

/**
 * Starts classifying `source`; returns `stop()`. `classify(frame, topK)`
 * gives one frame's predictions. Each result reaches `onResult({ predictions,
 * latencyMs, fps, frames, dropped })`; a failed frame reaches `onError` and the
 * loop goes on, except when the stream has ended or the classifier was
 * disposed, which end the loop (with a STREAM_ENDED or DISPOSED error).
 */
/**
 * @param {(frame: HTMLVideoElement, topK: number) => Promise<import("./index.js").Prediction[]>} classify
 * @param {HTMLVideoElement | MediaStream} source
 * @param {import("./index.js").VideoOptions} options
 * @returns {() => void}
 */
export function classifyVideo(classify, source, options) {
  if (options === null || typeof options !== "object")
    throw new WebResnetError("INVALID_INPUT", "options must be an object");
  const onResult = checkCallback(options, "onResult", true);
  const onError = checkCallback(options, "onError", false);
  const filter = predictionFilter(options);
  const smoother = new Smoother({ smoothing: options.smoothing ?? 0.5, hysteresis: options.hysteresis ?? 0.05 });
  const { maxFps = Infinity } = options;
  if (!(typeof maxFps === "number" && maxFps > 0))
    throw new WebResnetError("INVALID_INPUT", `maxFps must be a positive number, not ${maxFps}`);
  if (!globalThis.document) throw new WebResnetError("INVALID_INPUT", "classifyVideo needs a page (a document)");

  const { video, owned } = videoFor(source);
  const wanted = filter.wide ? Infinity : Math.max(filter.topK, SMOOTHED_CLASSES);
  let running = true;
  let busy = false;
  let lastStart = -Infinity;
  let frames = 0;
  let dropped = 0;
  const done = []; // completion times of recent results, for the FPS

  const stop = () => {
    if (!running) return;
    running = false;
    clearInterval(watchdog);
    video.removeEventListener("ended", onEnded);
    if (owned) {
      video.pause();
      video.srcObject = null;
    }
  };
  const end = (error) => {
    if (!running) return;
    stop();
    onError(error);
  };
  const onEnded = () => end(new WebResnetError("STREAM_ENDED", endedReason(video) ?? "the video ended"));
  video.addEventListener("ended", onEnded);
  // A stalled stream presents no frames, so the frame callbacks can't see it end.
  const watchdog = setInterval(() => {
    const ended = endedReason(video);
    if (ended) end(new WebResnetError("STREAM_ENDED", ended));
  }, 250);

  const fps = (now) => {
    done.push(now);
    if (done.length > 10) done.shift();
    return done.length < 2 ? null : ((done.length - 1) * 1000) / (now - done[0]);
  };

  // Starts classifying the frame on show, unless one is in flight (the
  // frame is then dropped) or there is nothing to classify yet.
  let presentedWhileBusy = false;
  const start = () => {
    if (!running) return;
    const ended = endedReason(video);
    if (ended) return end(new WebResnetError("STREAM_ENDED", ended));
    if (busy) {
      dropped++;
      presentedWhileBusy = true;
      return;
    }
    const now = performance.now();
    // No pixels yet (or a zero-sized frame): nothing to classify, wait for the next one.
    const empty = video.readyState < 2 || !video.videoWidth || !video.videoHeight;
    if (empty || now - lastStart < 1000 / maxFps) return;
    busy = true;
    presentedWhileBusy = false;
    lastStart = now;
    classify(video, wanted === Infinity ? 2 ** 31 - 1 : wanted)
      .then((predictions) => {
        if (!running) return;
        frames++;
        const finished = performance.now();
        onResult({
          predictions: filter.apply(smoother.push(predictions)),
          latencyMs: finished - now,
          fps: fps(finished),
          frames,
          dropped,
        });
      })
      .catch((e) => {
        if (!running) return;
        const error = toWebResnetError(e);
        if (error.code === "DISPOSED") end(error);
        else onError(error);
      })
      .finally(() => {
        busy = false;
        // A frame that came meanwhile is on show already: take it now, not at
        // the next one (up to a frame's interval later); in a task of its own,
        // so that the page still paints between frames.
        if (presentedWhileBusy) setTimeout(start, 0);
      });
  };

  const frame = () => {
    start();
    schedule();
  };

  // The next frame the video presents, where the browser says when; else the next paint.
  const schedule = () => {
    if (!running) return;
    if (typeof video.requestVideoFrameCallback === "function") video.requestVideoFrameCallback(frame);
    else requestAnimationFrame(frame);
  };
  schedule();
  return stop;
}
