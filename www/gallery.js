// Several photos at once: a strip of thumbnails, each classified in turn and
// captioned with its top class; picking one shows it in the photo view. The
// photo in the photo view is classified there, not twice: the page passes its
// result to `captionShown`. The thumbnails are canvases, since the page's CSP
// loads no blob: images.

// A folder dropped whole would hold the page for minutes: the first ones only.
export const MAX_PHOTOS = 48;
const THUMB_SIDE = 96;

export class Gallery {
  #list;
  #note;
  #classify;
  #open;
  #items = [];
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

  /**
   * Replaces the strip with `photos` (one or none: no strip), the first one
   * marked as the photo view's, then captions the others in turn.
   */
  async show(photos) {
    const generation = ++this.#generation;
    const kept = photos.slice(0, MAX_PHOTOS);
    const extra = photos.length - kept.length;
    this.#note.textContent = extra > 0 ? `The first ${MAX_PHOTOS} of ${photos.length} images are shown.` : "";
    this.#note.hidden = extra <= 0;
    this.#items = kept.length < 2 ? [] : kept.map((photo) => this.#item(photo));
    this.#list.replaceChildren(...this.#items.map((i) => i.li));
    this.#list.hidden = this.#items.length === 0;
    if (this.#items.length) this.#select(this.#items[0].li);
    await this.#caption(generation);
  }

  /**
   * Captions the same photos again in place, for a model just loaded; the
   * photo view's photo stays marked and gets its caption from the page.
   */
  async relabel() {
    const generation = ++this.#generation;
    for (const { li, caption } of this.#items) {
      caption.textContent = "…";
      delete li.dataset.top;
    }
    await this.#caption(generation);
  }

  /** The photo view's result for `photo`: its `top` classes, or the `error` it met. */
  captionShown(photo, { top, error }) {
    const item = this.#items.find((i) => i.photo === photo);
    if (item) label(item, top, error && failure(error));
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
    return { li, photo, canvas, caption, drawn: false };
  }

  #select(li) {
    for (const other of this.#list.children) other.removeAttribute("aria-current");
    li.setAttribute("aria-current", "true");
  }

  // One photo at a time, in order, until a newer set of photos (or model)
  // takes over. The photo view's photo is only drawn: the page captions it.
  async #caption(generation) {
    for (const item of this.#items) {
      if (generation !== this.#generation) return;
      const shown = () => item.li.hasAttribute("aria-current");
      if (item.drawn && shown()) continue;
      let bitmap;
      try {
        bitmap = await createImageBitmap(item.photo.blob, { colorSpaceConversion: "none" });
      } catch {
        label(item, null, "not an image");
        continue;
      }
      try {
        drawCovering(item.canvas, bitmap);
        item.drawn = true;
        if (shown()) continue;
        const top = await this.#classify(bitmap);
        if (generation !== this.#generation) return;
        label(item, top);
      } catch (e) {
        // A model being replaced: the new one captions them all again.
        if (e?.code === "DISPOSED") return;
        label(item, null, failure(e));
      } finally {
        bitmap.close();
      }
    }
  }
}

// A thumbnail's caption: the top class, or what went wrong (`top` empty in its data).
function label({ li, caption }, top, error) {
  const [best] = top ?? [];
  caption.textContent = best ? `${best.label} ${(best.probability * 100).toFixed(0)}%` : error;
  li.dataset.top = best?.label ?? "";
}

const failure = (e) => `failed: ${e?.code ?? e}`;

// The bitmap's centre square, scaled to fill the canvas.
function drawCovering(canvas, bitmap) {
  const side = Math.min(bitmap.width, bitmap.height);
  const [x, y] = [(bitmap.width - side) / 2, (bitmap.height - side) / 2];
  canvas.getContext("2d").drawImage(bitmap, x, y, side, side, 0, 0, canvas.width, canvas.height);
}
