// A tiny static server for the browser test and benchmarks. Why not any
// static server: wasm must be served as application/wasm (streaming
// compilation refuses anything else), and COOP/COEP make the page
// cross-origin isolated, as a threaded deployment would be.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize, sep } from "node:path";
import { ROOT } from "../node/common.mjs";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".jpg": "image/jpeg",
};

// Only these trees are reachable, so a stray path can't read the repo at large.
const ALLOWED = ["pkg", "shaders", "tests/browser", "tests/node", "bench", ".cache/models", ".cache/photos", "node_modules/onnxruntime-web/dist"];

export function serve(port = 0) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, "");
    const allowed = ALLOWED.some((dir) => rel === dir || rel.startsWith(dir + "/") || rel.startsWith(dir + sep));
    const path = join(ROOT, rel);
    let size = -1;
    try {
      const st = statSync(path);
      if (st.isFile()) size = st.size;
    } catch {
      // missing: answered with 404 below
    }
    if (!allowed || rel.includes("..") || size < 0) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "content-length": size,
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cache-control": "no-store",
    });
    createReadStream(path).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}
