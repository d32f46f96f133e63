// Small rendering helpers: the top-k bars, times, and the message areas.
// Everything goes through DOM properties (no HTML strings), and bar widths
// through a CSS custom property, which the page's CSP allows.

export function renderTop(list, top) {
  const items = top.map(({ label, probability }) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(probability * 100).toFixed(1)}%`;
    li.append(name, pct);
    li.style.setProperty("--p", String(probability));
    return li;
  });
  list.replaceChildren(...items);
}

export function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

// Shows `text` in `el`, or hides it when text is empty.
export function say(el, text) {
  el.textContent = text ?? "";
  el.hidden = !text;
}

// Draws `bitmap` into `canvas`, fitted to the canvas's width.
export function drawPreview(canvas, bitmap, name) {
  const w = 448;
  canvas.width = w;
  canvas.height = Math.max(1, Math.round((bitmap.height / bitmap.width) * w));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.setAttribute("aria-label", `The image being classified: ${name}`);
}
