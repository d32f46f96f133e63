// Renders .cache/bench/cpu.json (written by `make bench-cpu`) as a plain SVG
// bar chart: per model, each engine's median CPU time per image.
// Usage: node bench/plot_cpu.mjs [out.svg]   (default docs/cpu-bench.svg)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT } from "../testkit/common.mjs";

const data = JSON.parse(readFileSync(join(ROOT, ".cache", "bench", "cpu.json"), "utf8"));
const out = process.argv[2] ?? join(ROOT, "docs", "cpu-bench.svg");
const COLORS = { "ours SIMD128": "#2b6cb0", "ours relaxed": "#38a169", "ORT wasm": "#a0aec0" };

const models = [...new Set(data.results.map((r) => r.model))];
const engines = [...new Set(data.results.map((r) => r.engine))];
const max = Math.max(...data.results.map((r) => r.cpu_ms));
const [left, barH, gap, width] = [210, 16, 14, 420];
const groupH = engines.length * barH + gap;
const height = 40 + models.length * groupH + 30;
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
  `<rect width="100%" height="100%" fill="white"/>`,
  `<text x="10" y="20" font-size="14" font-weight="bold">wasm CPU, one thread, Node ${esc(data.node)}: median CPU ms per 224x224 image (lower is better)</text>`,
];
models.forEach((m, i) => {
  const y0 = 36 + i * groupH;
  parts.push(`<text x="10" y="${y0 + (engines.length * barH) / 2 + 4}">${esc(m)}</text>`);
  engines.forEach((e, j) => {
    const r = data.results.find((x) => x.model === m && x.engine === e);
    if (!r) return;
    const y = y0 + j * barH;
    const w = Math.max(1, (r.cpu_ms / max) * width);
    parts.push(
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[e] ?? "#718096"}"/>`,
    );
    parts.push(`<text x="${(left + w + 4).toFixed(1)}" y="${y + barH - 5}">${r.cpu_ms.toFixed(0)} ms</text>`);
  });
});
const ly = height - 14;
engines.forEach((e, j) => {
  const x = left + j * 130;
  parts.push(`<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${COLORS[e] ?? "#718096"}"/>`);
  parts.push(`<text x="${x + 16}" y="${ly}">${esc(e)}</text>`);
});
parts.push("</svg>");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${parts.join("\n")}\n`);
console.log(`wrote ${out}`);
