// The two non-Chromium engines of the engine tests, behind one interface so
// each check is written once: Firefox (Debian's firefox-esr, over WebDriver
// BiDi through puppeteer-core; no geckodriver) and WebKit (WebKitGTK's
// MiniBrowser through WebKitWebDriver, plain W3C WebDriver over HTTP, under
// Xvfb because this MiniBrowser has no headless mode).
//
//   const page = await openEngine("webkit", url, { camera: true });
//   const answer = await page.evaluate((a, b) => a + b, 1, 2); // 3, awaited if a promise
//   await page.close();
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ENGINES = ["firefox", "webkit"];

const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? "/usr/bin/WebKitWebDriver";
const MINIBROWSER = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const XVFB = process.env.XVFB ?? "/usr/bin/Xvfb";

// A check may run for minutes (a soak); the drivers' defaults are seconds.
const SCRIPT_TIMEOUT_MS = 10 * 60_000;

/** Why `engine` can't run on this machine, or null when it can. */
export function absent(engine) {
  const needs = engine === "firefox" ? [FIREFOX] : [WEBKIT_DRIVER, MINIBROWSER, XVFB];
  const gone = needs.filter((p) => !existsSync(p));
  return gone.length ? `not installed: ${gone.join(", ")} (scripts/setup.sh apt installs them)` : null;
}

/**
 * Opens `url` in `engine` and resolves once it has loaded. Options:
 * `camera`: a fake camera (Firefox's fake stream, WebKit's mock capture
 * devices), with the permission granted; `env`: extra environment for the
 * browser's processes; `echo`: the page's console on ours.
 * Resolves to { engine, version, evaluate(fn, ...args), close() }.
 */
export async function openEngine(engine, url, options = {}) {
  const open = engine === "firefox" ? openFirefox : engine === "webkit" ? openWebKit : null;
  if (!open) throw new Error(`unknown engine ${engine} (engines: ${ENGINES.join(", ")})`);
  return open(url, options);
}

async function openFirefox(url, { camera = false, env = {}, echo = false }) {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    protocol: "webDriverBiDi",
    headless: true,
    env: { ...process.env, ...env },
    protocolTimeout: SCRIPT_TIMEOUT_MS,
    extraPrefsFirefox: camera
      ? { "media.navigator.streams.fake": true, "media.navigator.permission.disabled": true }
      : {},
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(SCRIPT_TIMEOUT_MS);
    if (echo) page.on("console", (m) => console.log(`  [firefox ${m.type()}] ${m.text()}`));
    await page.goto(url, { waitUntil: "load" });
    return {
      engine: "firefox",
      version: await browser.version(),
      evaluate: (fn, ...args) => page.evaluate(fn, ...args),
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

// Starts Xvfb on a display it picks itself; resolves to { display, stop }.
function startXvfb() {
  const x = spawn(XVFB, ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  let log = "";
  x.stderr.on("data", (d) => (log += d));
  return new Promise((resolve, reject) => {
    x.on("error", reject);
    x.on("exit", (code) => reject(new Error(`Xvfb exited (${code}): ${log.trim().split("\n").at(-1)}`)));
    x.stdio[3].on("data", (d) => resolve({ display: `:${String(d).trim()}`, stop: () => x.kill() }));
  });
}

// One W3C WebDriver command; resolves to its `value`, rejects with the
// driver's error and message.
async function command(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const { value } = await res.json();
  if (value?.error) throw new Error(`WebDriver ${path.split("/").at(-1)}: ${value.error}: ${value.message}`);
  return value;
}

async function waitForDriver(base, driver) {
  for (let i = 0; i < 200; i++) {
    if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited (${driver.exitCode})`);
    try {
      if ((await command(base, "GET", "/status")).ready) return;
    } catch {
      // not listening yet
    }
    await new Promise((tick) => setTimeout(tick, 50));
  }
  throw new Error("WebKitWebDriver did not answer within 10 s");
}

async function openWebKit(url, { camera = false, env = {}, echo = false }) {
  const x = await startXvfb();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const home = mkdtempSync(join(tmpdir(), "webresnet-webkit-")); // a fresh profile (caches, storage)
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    stdio: ["ignore", echo ? "pipe" : "ignore", "ignore"],
    env: {
      ...process.env,
      ...env,
      DISPLAY: x.display,
      HOME: home,
      XDG_CACHE_HOME: home,
      XDG_DATA_HOME: home,
      MESA_SHADER_CACHE_DISABLE: "true", // nothing left writing in `home` at the end
    },
  });
  if (echo) driver.stdout.on("data", (d) => String(d).trim() && console.log(`  [webkit] ${String(d).trim()}`));
  const exited = new Promise((resolve) => driver.on("exit", resolve));
  const stop = async () => {
    driver.kill();
    await exited;
    x.stop();
    // The web process may outlive the driver by a moment, still writing there.
    for (let i = 0; i < 50; i++) {
      try {
        rmSync(home, { recursive: true, force: true });
        return;
      } catch {
        await new Promise((tick) => setTimeout(tick, 100));
      }
    }
  };
  try {
    await waitForDriver(base, driver);
    const args = ["--automation", ...(echo ? ["--enable-write-console-messages-to-stdout=true"] : [])];
    if (camera) args.push("--enable-media-stream=true", "--enable-mock-capture-devices=true");
    const { sessionId, capabilities } = await command(base, "POST", "/session", {
      capabilities: { alwaysMatch: { "webkitgtk:browserOptions": { binary: MINIBROWSER, args } } },
    });
    const session = `/session/${sessionId}`;
    await command(base, "POST", `${session}/timeouts`, { script: SCRIPT_TIMEOUT_MS, pageLoad: 120_000 });
    await command(base, "POST", `${session}/url`, { url });
    // The function's outcome comes back as data: a rejection's message is
    // kept, where the driver would report only "javascript error".
    const evaluate = async (fn, ...args) => {
      const script =
        "const done = arguments[arguments.length - 1];" +
        `Promise.resolve().then(() => (${fn})(...arguments[0]))` +
        ".then((value) => done({ value }), (e) => done({ error: String(e && e.stack || e) }));";
      const out = await command(base, "POST", `${session}/execute/async`, { script, args: [args] });
      if (out.error) throw new Error(out.error);
      return out.value;
    };
    return {
      engine: "webkit",
      version: `MiniBrowser (WebKitGTK) ${capabilities.browserVersion}`,
      evaluate,
      close: async () => {
        await command(base, "DELETE", session).catch(() => {});
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
