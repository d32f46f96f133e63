// Drives a page without a browser automation session: the page runs
// page_driver_client.js (added to the HTML this server sends for the
// session's URL) and fetches the runner's calls from, and posts their
// answers to, this same server. Used for Firefox, where an open WebDriver
// session makes some `new Worker()` calls inside a worker never return (see
// docs/engines.md).
//
//   const driver = attachDriver(httpServer, { echo });
//   const url = driver.pageUrl("http://127.0.0.1:1234/page.html");
//   ...open url in a browser...
//   await driver.connected;                        // the page's client is polling
//   const v = await driver.call("checks.name", arg); // window.checks.name(arg)
//   const seen = await driver.read("demoTest.seen");
//   driver.end();
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./common.mjs";
import { interpose, wrapBody } from "./interpose.mjs";

// The page's side, served under /__driver/SESSION/.
const CLIENT_FILES = Object.fromEntries(
  ["page_driver_client.js", "page_call.js"].map((f) => [f, readFileSync(join(ROOT, "testkit", f))]),
);
const POLL_MS = 20_000; // a poll with no call is answered empty, then renewed
const PARAM = "webresnet-driver";

// One request hook per server, routing to its sessions.
const hooked = new WeakMap();

function hook(server) {
  let sessions = hooked.get(server);
  if (sessions) return sessions;
  sessions = new Map();
  hooked.set(server, sessions);
  interpose(server, (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const [, root, id, route, arg] = url.pathname.split("/");
    if (root === "__driver") {
      const session = sessions.get(id);
      if (session) session.serve(route, arg, req, res);
      else res.writeHead(410).end();
      return true;
    }
    sessions.get(url.searchParams.get(PARAM))?.addClient(res);
    return false;
  });
  return sessions;
}

export function attachDriver(server, { echo = false } = {}) {
  const sessions = hook(server);
  const id = randomUUID();
  const queue = [];
  const pending = new Map();
  let poll = null;
  let nextCall = 0;
  let connect;
  const connected = new Promise((resolve) => (connect = resolve));

  // Answers the waiting poll, if any: with a call, empty (204) or "over" (410).
  const release = (status, call) => {
    if (!poll) return;
    clearTimeout(poll.timer);
    if (call) poll.res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    else poll.res.writeHead(status);
    poll.res.end(call && JSON.stringify(call));
    poll = null;
  };
  const flush = () => {
    if (poll && queue.length) release(200, queue.shift());
  };
  const body = (req) =>
    new Promise((resolve) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => resolve(JSON.parse(text)));
    });

  const session = {
    // The page's HTML gets the client's script after its own markup.
    addClient(res) {
      const src = `/__driver/${id}/page_driver_client.js?session=${id}${echo ? "&echo" : ""}`;
      wrapBody(res, { after: `\n<script type="module" src="${src}"></script>\n` });
    },
    async serve(route, arg, req, res) {
      if (CLIENT_FILES[route]) {
        res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" });
        return res.end(CLIENT_FILES[route]);
      }
      if (route === "next") {
        connect();
        release(204); // a poll from an earlier load of the page
        poll = { res, timer: setTimeout(() => release(204), POLL_MS) };
        return flush();
      }
      const data = await body(req);
      res.writeHead(204).end();
      if (route === "console") console.log(`  [page ${data.type}] ${data.text}`);
      if (route === "answer") {
        const settle = pending.get(Number(arg));
        pending.delete(Number(arg));
        settle?.(data);
      }
    },
  };
  sessions.set(id, session);

  const ask = (op, path, args) =>
    new Promise((resolve, reject) => {
      const callId = nextCall++;
      pending.set(callId, ({ value, error }) => (error ? reject(new Error(error)) : resolve(value)));
      queue.push({ id: callId, op, path, args });
      flush();
    });

  return {
    pageUrl(url) {
      const u = new URL(url);
      u.searchParams.set(PARAM, id);
      return u.href;
    },
    connected,
    call: (path, ...args) => ask("call", path, args),
    read: (path) => ask("read", path, []),
    typeOf: (path) => ask("typeof", path, []),
    end() {
      sessions.delete(id);
      release(410);
    },
  };
}
