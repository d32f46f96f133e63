// Draws a class activation map over the image it explains: normalised to its
// own range, coloured from blue (cold) to red (hot), and stretched over the
// part of the image the model saw (the explanation's crop).

// Blue through green and yellow to red, as in the CLI's overlay.
const ramp = (m) => [3, 2, 1].map((c) => Math.round(Math.min(1, Math.max(0, 1.5 - Math.abs(4 * m - c))) * 255));

// `rect`: where the whole image is drawn in `ctx`'s canvas, { x, y, width, height }.
export function drawHeatmap(ctx, { width, height, heatmap, crop }, rect) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of heatmap) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const cells = new ImageData(width, height);
  heatmap.forEach((v, i) => {
    const [r, g, b] = ramp(hi > lo ? (v - lo) / (hi - lo) : 0);
    cells.data.set([r, g, b, 140], 4 * i);
  });
  const small = new OffscreenCanvas(width, height);
  small.getContext("2d")?.putImageData(cells, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(
    small,
    rect.x + crop.left * rect.width,
    rect.y + crop.top * rect.height,
    (crop.right - crop.left) * rect.width,
    (crop.bottom - crop.top) * rect.height,
  );
  ctx.restore();
}

// Where a <video> with `object-fit: contain` shows its picture inside its box.
export function videoContentRect(video) {
  const box = { width: video.clientWidth, height: video.clientHeight };
  const scale = Math.min(box.width / video.videoWidth, box.height / video.videoHeight);
  const width = video.videoWidth * scale;
  const height = video.videoHeight * scale;
  return { x: (box.width - width) / 2, y: (box.height - height) / 2, width, height };
}
