// Several photos at once: a strip of thumbnails, each classified in turn and
// captioned with its top class; picking one shows it in the photo view. The
// thumbnails are canvases, since the page's CSP loads no blob: images.

// A folder dropped whole would hold the page for minutes: the first ones only.
export const MAX_PHOTOS = 48;
const THUMB_SIDE = 96;

export class Gallery {
  #list;
  #note;
  #classify;
  #open;
  #photos = [];
  #generation = 0;

  /**
   * `classify(bitmap)` resolves to the top classes; `open(photo)` shows one
   * photo (`{ blob, name }`) in the photo view.
   */
  constructor(list, note, { classify, open }) {
    this.#list = list;
    this.#note = note;
    this.#classify = classify;
    this.#open = open;
  }

  /** Replaces the strip with `photos` (one or none: no strip), then captions each in turn. */
  async show(photos) {
    const generation = ++this.#generation;
    this.#photos = photos.slice(0, MAX_PHOTOS);
    const extra = photos.length - this.#photos.length;
    this.#note.textContent = extra > 0 ? `The first ${MAX_PHOTOS} of ${photos.length} images are shown.` : "";
    this.#note.hidden = extra <= 0;
    if (this.#photos.length < 2) {
      this.#photos = [];
      this.#list.replaceChildren();
      this.#list.hidden = true;
      return;
    }
    const items = this.#photos.map((photo) => this.#item(photo));
    this.#list.replaceChildren(...items.map((i) => i.li));
    this.#list.hidden = false;
    this.#select(items[0].li);
    await this.#caption(items, generation);
  }

  /** Captions the same photos again, for a model just loaded. */
  async relabel() {
    if (this.#photos.length) await this.show(this.#photos);
  }

  #item(photo) {
    const li = document.createElement("li");
    li.dataset.name = photo.name;
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("aria-label", `Show ${photo.name}`);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = THUMB_SIDE;
    canvas.setAttribute("aria-hidden", "true");
    const caption = document.createElement("span");
    caption.className = "label";
    caption.textContent = "…";
    button.append(canvas, caption);
    button.addEventListener("click", () => {
      this.#select(li);
      this.#open(photo);
    });
    li.append(button);
    return { li, photo, canvas, caption };
  }

  #select(li) {
    for (const other of this.#list.children) other.removeAttribute("aria-current");
    li.setAttribute("aria-current", "true");
  }

  // One photo at a time, in order, until a newer set of photos (or none) replaces them.
  async #caption(items, generation) {
    for (const { li, photo, canvas, caption } of items) {
      if (generation !== this.#generation) return;
      let bitmap;
      try {
        bitmap = await createImageBitmap(photo.blob, { colorSpaceConversion: "none" });
      } catch {
        caption.textContent = "not an image";
        li.dataset.top = "";
        continue;
      }
      try {
        drawCovering(canvas, bitmap);
        const [best] = await this.#classify(bitmap);
        if (generation !== this.#generation) return;
        caption.textContent = `${best.label} ${(best.probability * 100).toFixed(0)}%`;
        li.dataset.top = best.label;
      } catch (e) {
        // A model being replaced: the new one captions them all again.
        if (e?.code === "DISPOSED") return;
        caption.textContent = `failed: ${e?.code ?? e}`;
        li.dataset.top = "";
      } finally {
        bitmap.close();
      }
    }
  }
}

// The bitmap's centre square, scaled to fill the canvas.
function drawCovering(canvas, bitmap) {
  const side = Math.min(bitmap.width, bitmap.height);
  const [x, y] = [(bitmap.width - side) / 2, (bitmap.height - side) / 2];
  canvas.getContext("2d").drawImage(bitmap, x, y, side, side, 0, 0, canvas.width, canvas.height);
}
