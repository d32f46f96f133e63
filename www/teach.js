// The Teach panel: few-shot classes taught on the loaded model's embeddings,
// from the live camera (hold the capture button) or from photos. The taught
// head is kept in IndexedDB per model, and can be exported and imported as a
// file. Live, the taught classes show beside the ImageNet ones.
import { renderTop, say } from "./view.js";

const DB = "webresnet-demo";
const STORE = "heads";
const CAPTURE_EVERY_MS = 150;

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const req = fn(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

const saved = (modelId) => withStore("readonly", (s) => s.get(modelId));
const save = (modelId, json) => withStore("readwrite", (s) => s.put(json, modelId));

export class TeachPanel {
  #holder;
  #els;
  #onError;
  #head = null;
  #modelId = null;
  #capturing = null; // the interval while the capture button is held
  #busy = false; // one capture or live answer at a time

  // `els`: { name, capture, photos, exportButton, importInput, clear, list, live, status }
  constructor(holder, els, onError) {
    this.#holder = holder;
    this.#els = els;
    this.#onError = onError;
    const { capture, photos, exportButton, importInput, clear } = els;
    capture.addEventListener("pointerdown", (e) => {
      capture.setPointerCapture?.(e.pointerId);
      this.#startCapture();
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"])
      capture.addEventListener(type, () => this.#stopCapture());
    capture.addEventListener("keydown", (e) => {
      if ((e.key === " " || e.key === "Enter") && !e.repeat) {
        e.preventDefault();
        this.#startCapture();
      }
    });
    capture.addEventListener("keyup", (e) => (e.key === " " || e.key === "Enter") && this.#stopCapture());
    photos.addEventListener("change", () => this.#addPhotos([...photos.files]).finally(() => (photos.value = "")));
    exportButton.addEventListener("click", () => this.#export());
    importInput.addEventListener("change", () =>
      this.#import(importInput.files[0]).finally(() => (importInput.value = "")),
    );
    clear.addEventListener("click", () => {
      this.#head?.clear();
      this.#changed();
    });
  }

  // A model was loaded: its own head, restored from IndexedDB if one was saved.
  async modelChanged() {
    this.#stopCapture();
    this.#head = this.#holder.createHead();
    this.#modelId = this.#holder.modelId;
    try {
      const json = await saved(this.#modelId);
      if (json) this.#head = this.#holder.loadHead(json);
    } catch (e) {
      this.#onError(`The taught classes saved in this browser could not be restored: ${e.message}`);
    }
    this.#render();
  }

  #label() {
    const label = this.#els.name.value.trim();
    if (!label) {
      this.#onError("Type a name for the class first.");
      this.#els.name.focus();
    }
    return label;
  }

  #startCapture() {
    const label = this.#label();
    if (!label || this.#capturing || !this.#head) return;
    const video = this.#holder.video;
    if (!video) return this.#onError("Start the camera first, or add photos.");
    const grab = async () => {
      if (this.#busy || video.readyState < 2) return;
      this.#busy = true;
      try {
        await this.#head.add(label, video);
        this.#changed();
      } catch (e) {
        this.#onError(e);
      } finally {
        this.#busy = false;
      }
    };
    grab();
    this.#capturing = setInterval(grab, CAPTURE_EVERY_MS);
    this.#els.capture.setAttribute("aria-pressed", "true");
  }

  #stopCapture() {
    clearInterval(this.#capturing);
    this.#capturing = null;
    this.#els.capture.setAttribute("aria-pressed", "false");
  }

  async #addPhotos(files) {
    const label = this.#label();
    if (!label || !this.#head) return;
    for (const file of files) {
      try {
        await this.#head.add(label, file);
      } catch (e) {
        this.#onError(e);
      }
    }
    this.#changed();
  }

  #export() {
    if (!this.#head) return;
    const url = URL.createObjectURL(new Blob([JSON.stringify(this.#head)], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "webresnet-head.json";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }

  async #import(file) {
    if (!file) return;
    try {
      this.#head = this.#holder.loadHead(await file.text());
      this.#changed();
    } catch (e) {
      this.#onError(e);
    }
  }

  #changed() {
    this.#render();
    save(this.#modelId, this.#head.toJSON()).catch((e) =>
      this.#onError(`The taught classes could not be saved: ${e.message}`),
    );
  }

  #render() {
    const labels = this.#head?.labels ?? [];
    const { list, status, exportButton, clear } = this.#els;
    list.replaceChildren(
      ...labels.map((l) => {
        const li = document.createElement("li");
        li.textContent = `${l}: ${this.#head.count(l)} example${this.#head.count(l) === 1 ? "" : "s"}`;
        return li;
      }),
    );
    say(status, labels.length ? "" : "No classes taught yet.");
    exportButton.disabled = clear.disabled = !labels.length;
    if (!labels.length) this.#els.live.replaceChildren();
  }

  // A live frame: the taught classes for it, beside the ImageNet ones. Frames
  // that come while one is being answered are skipped.
  async liveFrame(video) {
    if (this.#busy || !this.#head?.labels.length) return;
    this.#busy = true;
    try {
      renderTop(this.#els.live, await this.#head.classify(video, { topK: 3 }));
    } catch (e) {
      if (e?.code !== "DISPOSED") this.#onError(e);
    } finally {
      this.#busy = false;
    }
  }
}
