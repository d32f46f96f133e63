// Launches Debian's Chromium headless with WebGPU (SwiftShader) through
// playwright-core; shared by the browser test and the GPU benchmark.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

// playwright adds --headless itself (headless: true); these keep a
// headless run quiet and offline.
export const ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

// Returns { page, context, close } on `url`, with the page's console echoed
// when `echo` is set, once `ready` holds in the page. `args` adds browser
// flags (a fake camera, say). `webgpu: false` leaves out the flag that
// enables WebGPU here, so the page finds navigator.gpu but no adapter, as on
// a machine whose GPU is blocklisted. `beforeGoto(context)` runs before the first
// navigation, to route requests or add init scripts. A fresh profile per
// run: a cached GPU state or pipeline cache from an earlier run must not
// flatter the timings.
export async function openPage(
  url,
  { echo = true, webgpu = true, args = [], viewport, beforeGoto, ready = () => window.ready === true } = {},
) {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}`);
  const profile = mkdtempSync(join(tmpdir(), "webresnet-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...(webgpu ? ["--enable-unsafe-webgpu"] : []), ...args],
    timeout: 120_000,
    ...(viewport ? { viewport } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20 * 60_000);
  if (echo) {
    page.on("console", (m) => console.log(`  [page ${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => console.log(`  [page error] ${e.message}`));
  }
  if (beforeGoto) await beforeGoto(context);
  await page.goto(url);
  await page.waitForFunction(ready, null, { timeout: 120_000 });
  return {
    page,
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
