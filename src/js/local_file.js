// Reads a file: URL in Node, where fetch can't. The module name is hidden
// from bundlers so a browser build never tries to resolve Node's fs.
const NODE_FS = "node:fs/promises";

export async function readLocalFile(url) {
  const { readFile } = await import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_FS);
  return new Uint8Array(await readFile(url));
}
