// What a runner's call does in a page under test, for every engine driver:
// names a global by its dotted path; "call" calls that function with `args`
// (on its owner, awaited), "read" gives its value, "typeof" its type.
// Self-contained, as the WebKit driver hands it to the page by its source.
export async function pageCall(op, path, args) {
  const keys = path.split(".");
  const owner = keys.slice(0, -1).reduce((o, k) => o?.[k], globalThis);
  const value = owner?.[keys.at(-1)];
  if (op === "typeof") return typeof value;
  if (op === "read") return value;
  if (typeof value !== "function") throw new TypeError(`${path} is not a function`);
  return await value.apply(owner, args);
}
