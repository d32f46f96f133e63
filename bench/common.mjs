// Small statistics shared by the benchmarks.
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

export function row(cells, widths) {
  return cells.map((c, i) => String(c).padEnd(widths[i] ?? 12)).join(" ");
}
