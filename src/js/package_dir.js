// Vite 7's dev server pre-bundles the package into node_modules/.vite/deps/
// and leaves its `new URL("./file", import.meta.url)` pointing there, where
// the files are not (Vite 8's dev server and every build rewrite those
// URLs). The dev server still serves each file from the package's folder.
const VITE_DEPS = "/node_modules/.vite/deps/";

/**
 * The package's folder when `moduleUrl` (an import.meta.url) is in Vite 7's
 * pre-bundle, else null. Other bundlers may put anything there, a bare path
 * included, so it is parsed only when it names that folder.
 */
export function prebundledPackageDir(moduleUrl) {
  const href = String(moduleUrl);
  const at = href.indexOf(VITE_DEPS);
  return at < 0 ? null : new URL("webresnet/", href.slice(0, at + "/node_modules/".length));
}

/** A file of the package, named by `new URL("./file", import.meta.url)`, where the page can fetch it. */
export function packageFile(url) {
  const dir = prebundledPackageDir(url);
  return dir ? new URL(url.href.slice(url.href.indexOf(VITE_DEPS) + VITE_DEPS.length), dir) : url;
}
