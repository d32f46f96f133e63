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

/**
 * Times `engines` (name -> async run) in alternation, `runs` rounds after one
 * warm-up each, so the machine's load falls on all of them alike; resolves to
 * each name's run times in ms.
 */
export async function alternate(engines, runs) {
  const times = Object.fromEntries(Object.keys(engines).map((n) => [n, []]));
  for (const run of Object.values(engines)) await run();
  for (let i = 0; i < runs; i++) {
    for (const [name, run] of Object.entries(engines)) {
      const t0 = performance.now();
      await run();
      times[name].push(performance.now() - t0);
    }
  }
  return times;
}
