// The packed package in an app of each major bundler, built with ZERO
// bundler configuration: Vite 7 (`vite build`) and the dev servers of Vite
// 7 and 8 (run.mjs's own app is Vite 8's build),
// webpack 5, Next.js 16 (Turbopack) and 15 (app router, a client component
// and a server component; `next build`, then `next start`), esbuild (with
// the README's recipe) and no bundler (the package folder served as is).
// Each app's page classifies the coffee photo on WebGPU, on the CPU, and on
// the threaded build in worker mode (served cross-origin isolated).
// The apps (tests/package/apps/*) are npm workspaces: each bundler is pinned
// in the root package-lock.json and installed by `npm ci`; they are built
// in place, where Node finds their bundler.
import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { request, createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../../testkit/common.mjs";
import { serve } from "../../scripts/serve.mjs";
import { check, missing } from "../../testkit/report.mjs";

const APPS = join(ROOT, "tests", "package", "apps");
const ESPRESSO = 967;
const ISOLATION = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
// Next's own switch, not bundler configuration: no usage report from CI.
const NEXT_ENV = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

const dir = (...p) => join(APPS, ...p);
const bin = (pkg, path) => join(ROOT, "node_modules", pkg, path);
// A build that hangs (Turbopack can, on a worker that starts itself) fails after 10 minutes.
const run = (cmd, args, cwd, env) =>
  execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 });
const seconds = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

// Installs the tarball as npm would (the package has no dependencies), with
// the probe page and the photo, into each app.
function prepare(tarball, photo) {
  for (const app of ["vite", "webpack", "esbuild", "next15", "next16", "static"]) {
    const at = dir(app);
    const pkg = join(at, "node_modules", "webresnet");
    rmSync(pkg, { recursive: true, force: true });
    mkdirSync(pkg, { recursive: true });
    run("tar", ["-xzf", tarball, "-C", pkg, "--strip-components=1"]);
    // Vite's dev pre-bundle too: its cache key does not see a repacked package of the same version.
    const outputs = [
      "dist",
      ".next",
      "public",
      join("node_modules", ".vite"),
      ...(app.startsWith("next") ? ["app"] : []),
    ];
    for (const out of outputs) rmSync(join(at, out), { recursive: true, force: true });
    cpSync(dir("probe.js"), join(at, "probe.js"));
    if (app.startsWith("next")) cpSync(dir("next", "app"), join(at, "app"), { recursive: true });
    const pub = join(at, ["vite", "next15", "next16"].includes(app) ? "public" : app === "static" ? "." : "dist");
    mkdirSync(pub, { recursive: true });
    cpSync(photo, join(pub, "coffee.png"));
  }
}

// Every build, one after the other (CI has two cores); name -> seconds.
async function buildAll() {
  const took = {};
  const timed = async (name, fn) => {
    const t0 = performance.now();
    await fn();
    took[name] = seconds(t0);
  };
  const viteOf = (version) =>
    import(
      pathToFileURL(
        version === 7
          ? dir("vite", "node_modules", "vite", "dist", "node", "index.js")
          : bin("vite", "dist/node/index.js"),
      ).href
    );
  // Vite 8's build is run.mjs's own app.
  const { build } = await viteOf(7);
  await timed("vite 7 build", () => build({ root: dir("vite"), logLevel: "warn" }));
  await timed("webpack", () =>
    run(process.execPath, [bin("webpack-cli", "bin/cli.js"), "--mode", "production"], dir("webpack")),
  );
  cpSync(dir("webpack", "index.html"), dir("webpack", "dist", "index.html"));
  // The README's esbuild recipe: bundle, then the package's files beside the bundle.
  await timed("esbuild", () => {
    run(
      bin("esbuild", "bin/esbuild"),
      ["main.js", "--bundle", "--format=esm", "--outfile=dist/app.js"],
      dir("esbuild"),
    );
    cpSync(dir("esbuild", "node_modules", "webresnet"), dir("esbuild", "dist"), { recursive: true });
    cpSync(dir("esbuild", "index.html"), dir("esbuild", "dist", "index.html"));
  });
  for (const next of ["next15", "next16"]) {
    await timed(`${next} build`, () => run(process.execPath, [nextBin(next), "build"], dir(next), NEXT_ENV));
  }
  return { took, viteOf };
}

const nextBin = (app) =>
  join(app === "next16" ? dir(app, "node_modules") : join(ROOT, "node_modules"), "next", "dist", "bin", "next");

// The one origin the browser sees for every app: it forwards each request
// to the app's server (`setUpstream`), adds COOP/COEP so that a server we
// don't configure (next start, Vite's dev server) is cross-origin isolated
// as a deployment would make it, and forbids caching, so that nothing of
// one app is reused by the next.
async function isolatingProxy() {
  let upstream;
  const server = createServer((req, res) => {
    const out = request(
      upstream + req.url,
      { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } },
      (up) => {
        res.writeHead(up.statusCode, { ...up.headers, ...ISOLATION, "cache-control": "no-store" });
        up.pipe(res);
      },
    );
    out.on("error", (e) => res.writeHead(502).end(String(e)));
    req.pipe(out);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    setUpstream: (origin) => (upstream = origin),
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

// `next start` on its own port; resolves once it answers.
async function nextStart(app) {
  const port = 3100 + (app === "next16" ? 16 : 15);
  const child = spawn(process.execPath, [nextBin(app), "start", "-p", String(port), "-H", "127.0.0.1"], {
    cwd: dir(app),
    env: NEXT_ENV,
    stdio: "ignore",
  });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    if (
      await fetch(origin).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { origin, stop: () => child.kill() };
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill();
  throw new Error(`${app}: next start did not answer on ${origin}`);
}

// One app's page: espresso on WebGPU, the CPU, and the threaded build.
async function pageChecks(page, name, origin, { ssr }) {
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 120_000 });
  // The apps share one origin: no app may find the model an earlier one stored.
  await page.evaluate(() => caches.delete("webresnet-models"));
  const gpu = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter()));
  if (!gpu) missing(`${name}, WebGPU: no adapter in headless Chromium`);
  if (ssr) {
    const text = await page.textContent("#ssr");
    check(
      text === "function",
      `${name}: a server component imported the package while prerendering (typeof WebResnetError: ${text})`,
    );
  }
  const cases = [
    ["CPU", { backend: "cpu" }, (r) => r.backend === "cpu-simd"],
    [
      "threads: 2 in a worker",
      { backend: "cpu", worker: true, threads: 2 },
      (r) => r.backend === "cpu-simd-threads" && r.threads === 2,
    ],
    ...(gpu ? [["WebGPU", { backend: "webgpu" }, (r) => r.backend === "webgpu"]] : []),
  ];
  for (const [what, options, ok] of cases) {
    const t0 = performance.now();
    const r = await page.evaluate((o) => window.espresso(o), options);
    if (r.error) {
      check(false, `${name}, ${what}: ${r.error.code} ${r.error.message}`);
      continue;
    }
    const note = r.threadsFallback ? ` (threadsFallback: ${r.threadsFallback})` : "";
    check(
      ok(r) && r.top.index === ESPRESSO,
      `${name}, ${what}: ${r.top.index} ${r.top.label} ${r.top.probability.toFixed(3)} on ${r.backend}, ${r.threads} thread(s)${note}, ${seconds(t0)}`,
    );
  }
}

/**
 * Builds every app, then checks each in `context` (a Chromium context).
 * `tarball`: the packed package; `photo`: the coffee photo.
 */
export async function bundlerChecks({ tarball, photo, context }) {
  prepare(tarball, photo);
  let built;
  try {
    built = await buildAll();
  } catch (e) {
    check(false, `building the bundler apps: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    return;
  }
  check(
    true,
    `zero-config builds: ${Object.entries(built.took)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );

  const page = await context.newPage();
  const proxy = await isolatingProxy();
  // Each app's server: name -> () => { origin, stop }.
  const servers = [];
  for (const [name, folder] of [
    ["vite 7 build", "vite/dist"],
    ["webpack 5", "webpack/dist"],
    ["esbuild", "esbuild/dist"],
    ["no bundler", "static"],
  ]) {
    servers.push([
      name,
      async () => {
        const { server, origin } = await serve({ mounts: { "/": `tests/package/apps/${folder}` } });
        return { origin, stop: () => server.close() };
      },
    ]);
  }
  for (const version of [7, 8]) {
    servers.push([
      `vite ${version} dev server`,
      async () => {
        const { createServer: viteServer } = await built.viteOf(version);
        const vite = await viteServer({
          root: dir("vite"),
          logLevel: "warn",
          server: { host: "127.0.0.1", port: 5170 + version },
        });
        await vite.listen();
        return { origin: vite.resolvedUrls.local[0].replace(/\/$/, ""), stop: () => vite.close() };
      },
    ]);
  }
  for (const app of ["next15", "next16"]) servers.push([`${app} (next start)`, () => nextStart(app)]);
  try {
    for (const [name, start] of servers) {
      const app = await start();
      proxy.setUpstream(app.origin);
      try {
        await pageChecks(page, name, proxy.origin, { ssr: name.startsWith("next") });
      } finally {
        await page.goto("about:blank");
        await app.stop();
      }
    }
  } finally {
    proxy.close();
    await page.close();
  }
}
