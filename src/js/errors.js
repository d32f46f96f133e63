// The one error type the package rejects with. `code` is stable: branch on
// it, not on the message.

export class WebResnetError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "WebResnetError";
    this.code = code;
  }
}

// Anything caught becomes a WebResnetError. The wasm throws plain Errors
// named "WebResnetError" that carry a `code`; keep that code. Anything else
// (a browser exception, a wasm trap) gets `fallbackCode`.
export function toWebResnetError(e, fallbackCode = "BACKEND") {
  if (e instanceof WebResnetError) return e;
  if (e?.name === "WebResnetError" && typeof e.code === "string") return new WebResnetError(e.code, e.message);
  return new WebResnetError(fallbackCode, e instanceof Error ? e.message : String(e), { cause: e });
}

// Errors cross from a worker as plain data.
export const errorToData = (e) => ({ code: e.code, message: e.message });
export const errorFromData = (d) => new WebResnetError(d.code, d.message);

// `create` given an AbortSignal that fired: its reason goes along as the cause.
export function abortedError(signal) {
  return new WebResnetError("ABORTED", "create was aborted by its signal", { cause: signal.reason });
}

export function throwIfAborted(signal) {
  if (signal?.aborted) throw abortedError(signal);
}
