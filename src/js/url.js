// Resolves a string against the page (or, in Node, the working directory),
// so "models/x.onnx" and "/x.onnx" mean what they mean in a <script>.
import { WebResnetError } from "./errors.js";

/**
 * @param {string | URL} value
 * @param {string} what the option or argument, for the error
 */
export function resolveUrl(value, what) {
  if (value instanceof URL) return value;
  const base = globalThis.location?.href ?? `file://${globalThis.process?.cwd?.() ?? ""}/`;
  try {
    return new URL(value, base);
  } catch {
    throw new WebResnetError("INVALID_INPUT", `${what}: not a URL: ${value}`);
  }
}
