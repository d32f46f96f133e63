// The two non-Chromium engines of the engine tests, behind one interface so
// each check is written once: Firefox (Debian's firefox-esr, headless, driven
// through the page's own server by page_driver.mjs, with no automation
// session) and WebKit (WebKitGTK's MiniBrowser through WebKitWebDriver, plain
// W3C WebDriver over HTTP, under Xvfb because this MiniBrowser has no
// headless mode). A call runs pageCall (page_call.js) in the page.
//
//   const page = await openEngine("webkit", url, { server, camera: true });
//   const answer = await page.call("checks.worker", { threads: 2 }); // awaited if a promise
//   await page.close();
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pageCall } from "./page_call.js";
import { attachDriver } from "./page_driver.mjs";

export const ENGINES = ["firefox", "webkit"];

const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? "/usr/bin/WebKitWebDriver";
const MINIBROWSER = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const XVFB = process.env.XVFB ?? "/usr/bin/Xvfb";

// A check may run for minutes (a soak); the drivers' defaults are seconds.
const SCRIPT_TIMEOUT_MS = 10 * 60_000;
const PAGE_LOAD_MS = 120_000;

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
 * browser's processes; `echo`: the page's console on ours; `server`: the
 * http.Server that serves `url` (Firefox's calls go through it).
 * Resolves to { engine, version, call(path, ...args), read(path), typeOf(path),
 * close() }: see page_call.js.
 */
export async function openEngine(engine, url, options = {}) {
  const open = engine === "firefox" ? openFirefox : engine === "webkit" ? openWebKit : null;
  if (!open) throw new Error(`unknown engine ${engine} (engines: ${ENGINES.join(", ")})`);
  return open(url, options);
}

let firefoxVersion; // `firefox-esr --version`, asked once

// Firefox runs with no automation session (see page_driver.mjs): a fresh
// profile, the page opened from the command line, calls over the page's server.
async function openFirefox(url, { server, camera = false, env = {}, echo = false }) {
  if (!server) throw new Error("Firefox is driven through the page's own server: pass `server`");
  const profile = mkdtempSync(join(tmpdir(), "webresnet-firefox-"));
  const prefs = {
    "browser.shell.checkDefaultBrowser": false,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": false,
    "app.update.disabledForTesting": true,
    ...(camera ? { "media.navigator.streams.fake": true, "media.navigator.permission.disabled": true } : {}),
  };
  writeFileSync(
    join(profile, "user.js"),
    Object.entries(prefs)
      .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`)
      .join(""),
  );
  const driver = attachDriver(server, { echo });
  const browser = spawn(FIREFOX, ["--headless", "--no-remote", "--profile", profile, driver.pageUrl(url)], {
    stdio: "ignore",
    env: { ...process.env, ...env },
  });
  const exited = new Promise((resolve) => browser.on("exit", resolve));
  const close = async () => {
    driver.end();
    browser.kill("SIGKILL");
    await exited;
    rmSync(profile, { recursive: true, force: true });
  };
  let timer;
  const opened = await Promise.race([
    driver.connected.then(() => true),
    exited.then(() => false),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), PAGE_LOAD_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!opened) {
    await close();
    throw new Error(`Firefox did not open ${url} within ${PAGE_LOAD_MS / 1000} s`);
  }
  firefoxVersion ??= execFileSync(FIREFOX, ["--version"], { encoding: "utf8" }).trim();
  // A call to a browser that is gone fails instead of waiting for an answer.
  const gone = exited.then((code) => {
    throw new Error(`Firefox exited (${code})`);
  });
  gone.catch(() => {});
  const alive = (answer) => Promise.race([answer, gone]);
  return {
    engine: "firefox",
    version: firefoxVersion,
    call: (path, ...args) => alive(driver.call(path, ...args)),
    read: (path) => alive(driver.read(path)),
    typeOf: (path) => alive(driver.typeOf(path)),
    close,
  };
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
    await command(base, "POST", `${session}/timeouts`, { script: SCRIPT_TIMEOUT_MS, pageLoad: PAGE_LOAD_MS });
    await command(base, "POST", `${session}/url`, { url });
    // The function's outcome comes back as data: a rejection's message is
    // kept, where the driver would report only "javascript error".
    const evaluate = async (fn, ...args) => {
      const script =
        "const done = arguments[arguments.length - 1];" +
        `Promise.resolve().then(() => (${fn})(...arguments[0]))` +
        ".then((value) => done({ value }), (e) => done({ error: String(e) + '\\n' + ((e && e.stack) || '') }));";
      const out = await command(base, "POST", `${session}/execute/async`, { script, args: [args] });
      if (out.error) throw new Error(out.error);
      return out.value;
    };
    return {
      engine: "webkit",
      version: `MiniBrowser (WebKitGTK) ${capabilities.browserVersion}`,
      call: (path, ...args) => evaluate(pageCall, "call", path, args),
      read: (path) => evaluate(pageCall, "read", path, []),
      typeOf: (path) => evaluate(pageCall, "typeof", path, []),
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
