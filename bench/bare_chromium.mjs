// Headless Chromium driven over a bare DevTools pipe, for timings that
// Playwright would skew: it turns on DevTools' network agent, which keeps
// fetched bodies for inspection and so blocks the page's thread as a large
// model finishes downloading (ResponseBodyLoader::DidFinishLoadingBody;
// docs/performance.md), a cost no user without DevTools pays. Only the
// Target and Runtime domains are used here.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ARGS, CHROMIUM } from "../testkit/chromium.mjs";

// Starts the browser; resolves to { open(url), close }. `open` resolves to
// { evaluate(expression), close } on a new page once `window.ready` holds;
// `evaluate` awaits the expression's promise and returns its value as JSON.
export async function launchBareChromium() {
  const profile = mkdtempSync(join(tmpdir(), "webresnet-bare-"));
  const browser = spawn(CHROMIUM, ["--headless", ...ARGS, "--remote-debugging-pipe", `--user-data-dir=${profile}`], {
    stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"],
  });
  const [, , , commands, replies] = browser.stdio;
  const pending = new Map();
  let lastId = 0;
  let unread = "";
  // Messages are JSON, each ended by a NUL byte.
  replies.on("data", (chunk) => {
    unread += chunk;
    for (let end = unread.indexOf("\0"); end >= 0; end = unread.indexOf("\0")) {
      const { id, result, error } = JSON.parse(unread.slice(0, end));
      unread = unread.slice(end + 1);
      pending.get(id)?.(error ? Promise.reject(new Error(`${error.message} (${error.code})`)) : result);
      pending.delete(id);
    }
  });
  browser.on("exit", (code) => {
    for (const settle of pending.values()) settle(Promise.reject(new Error(`Chromium exited (${code})`)));
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((settle) => {
      pending.set(++lastId, settle);
      commands.write(`${JSON.stringify({ id: lastId, method, params, sessionId })}\0`);
    });

  async function open(url) {
    const { targetId } = await send("Target.createTarget", { url });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
    const evaluate = async (expression) => {
      const { result, exceptionDetails } = await send(
        "Runtime.evaluate",
        { expression, awaitPromise: true, returnByValue: true },
        sessionId,
      );
      if (exceptionDetails) throw new Error(exceptionDetails.exception?.description ?? exceptionDetails.text);
      return result.value;
    };
    // Until the page has a context, evaluating fails: that is "not ready" too.
    const ready = () => evaluate("window.ready === true").catch(() => false);
    for (const deadline = Date.now() + 120_000; !(await ready()); ) {
      if (Date.now() > deadline) throw new Error(`${url} never became ready`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { evaluate, close: () => send("Target.closeTarget", { targetId }) };
  }

  return {
    open,
    // Asked to close, then killed if it lingers; its helper processes may
    // still be writing the profile for a moment after it exits.
    close: async () => {
      const exited = new Promise((resolve) => (browser.exitCode === null ? browser.once("exit", resolve) : resolve()));
      send("Browser.close").catch(() => {});
      const lingering = setTimeout(() => browser.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(lingering);
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
