// A y4m video (the format Chromium's fake camera reads) from RGBA pixels:
// a text header, then per frame "FRAME\n" and planar YUV 4:2:0.
//
// BT.601 limited range, as cameras deliver it; chroma is the mean of each
// 2x2 block, which is what C420jpeg's centred chroma siting describes.

export function y4m(rgba, width, height, frames = 1) {
  if (width % 2 || height % 2) throw new Error(`y4m 4:2:0 needs even dimensions, got ${width}x${height}`);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`, "latin1");
  const frame = i420(rgba, width, height);
  const tag = Buffer.from("FRAME\n", "latin1");
  return Buffer.concat([header, ...Array.from({ length: frames }, () => [tag, frame]).flat()]);
}

const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));

function i420(rgba, w, h) {
  const cw = w / 2;
  const ch = h / 2;
  const out = Buffer.alloc(w * h + 2 * cw * ch);
  const u = w * h;
  const v = u + cw * ch;
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    out[i] = clamp(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dy, dx] of [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ]) {
        const p = 4 * ((2 * y + dy) * w + 2 * x + dx);
        r += rgba[p] / 4;
        g += rgba[p + 1] / 4;
        b += rgba[p + 2] / 4;
      }
      out[u + y * cw + x] = clamp(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255);
      out[v + y * cw + x] = clamp(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255);
    }
  }
  return out;
}
