// The wasm builds in this package. `make pkg` rewrites this file to list
// only the builds it packed (a missing file would break bundlers).
export const plainWasmUrl = () => new URL("./webresnet_bg.wasm", import.meta.url);
/** @type {null | (() => URL)} */
export const relaxedWasmUrl = null;
// The threaded build has its own glue (its memory is shared): { glue, wasmUrl }.
/** @type {null | (() => { glue: Promise<typeof import("./threads/webresnet.js")>, wasmUrl: URL })} */
export const threadsBuild = null;
