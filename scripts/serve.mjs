// The one static server of the project: the demo (`make demo`), the browser
// tests and the benchmarks. Why not any static server: wasm must be served as
// application/wasm (streaming compilation refuses anything else), COOP/COEP
// make the page cross-origin isolated so CPU threads can share memory, and
// the demo is served under the strict CSP a careful deployment would use.
//
//   node scripts/serve.mjs [PORT]     the demo on http://127.0.0.1:PORT (8080)
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { Transform } from "node:stream";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".onnx": "application/octet-stream",
  ".wrn": "application/octet-stream",
};

// No inline scripts, no eval; wasm compiles under 'wasm-unsafe-eval', and a
// worker may be started from a blob: URL (bundlers and some glue do that).
export const DEMO_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:";

// URL prefix -> repository folder. Only these trees are reachable, so a stray
// path can't read the repo at large.
export const DEMO_MOUNTS = { "/": "www", "/pkg/": "pkg", "/models/": ".cache/models", "/photos/": ".cache/photos" };
const same = (dirs) => Object.fromEntries(dirs.map((d) => [`/${d}/`, d]));
export const TEST_MOUNTS = same([
  "pkg",
  "shaders",
  "tests/browser",
  "testkit",
  "bench",
  ".cache/models",
  ".cache/photos",
  "node_modules/onnxruntime-web/dist",
]);

// The file a URL path names under `mounts`, or null. The longest prefix wins,
// so "/pkg/x" goes to pkg/ even though "/" is mounted too.
function resolve(mounts, pathname) {
  let rel = normalize(decodeURIComponent(pathname)).replaceAll("\\", "/");
  if (rel.endsWith("/")) rel += "index.html";
  if (rel.split("/").includes("..")) return null;
  const prefix = Object.keys(mounts)
    .filter((p) => rel.startsWith(p))
    .sort((a, b) => b.length - a.length)[0];
  return prefix === undefined ? null : join(ROOT, mounts[prefix], rel.slice(prefix.length));
}

// The bytes it is given, sent no faster than `bytesPerSecond` (a network's speed).
function paced(bytesPerSecond) {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk, _encoding, done) {
      sent += chunk.length;
      setTimeout(() => done(null, chunk), start + (sent / bytesPerSecond) * 1000 - Date.now());
    },
  });
}

// Resolves to { server, origin } once listening. Port 0 picks a free port.
// `isolate: false` leaves out COOP/COEP, as a server that knows nothing of
// them would (the page then has no SharedArrayBuffer and no CPU threads).
// `bytesPerSecond` paces every response, as a network of that speed would.
export function serve({
  port = 0,
  mounts = TEST_MOUNTS,
  csp = null,
  isolate = true,
  bytesPerSecond = null,
  headers = {},
} = {}) {
  const server = createServer((req, res) => {
    let path = null;
    try {
      path = resolve(mounts, new URL(req.url, "http://localhost").pathname);
    } catch {
      // a malformed escape: answered with 404 below
    }
    let size = -1;
    try {
      const st = path && statSync(path);
      if (st?.isFile()) size = st.size;
    } catch {
      // missing: answered with 404 below
    }
    if (size < 0) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${req.url}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "content-length": size,
      ...(isolate
        ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" }
        : {}),
      "cache-control": "no-store",
      ...(csp ? { "content-security-policy": csp } : {}),
      ...headers,
    });
    const file = createReadStream(path);
    (bytesPerSecond ? file.pipe(paced(bytesPerSecond)) : file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(port, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const { origin } = await serve({ port, mounts: DEMO_MOUNTS, csp: DEMO_CSP });
  console.log(`webresnet demo: ${origin}/  (Ctrl-C stops it)`);
}
