// Test-side changes to what a server from scripts/serve.mjs sends, without
// touching the server itself.

// Puts `hook(req, res)` in front of `server`'s request handler; a hook that
// answered the request itself returns true.
export function interpose(server, hook) {
  const [handler] = server.listeners("request");
  server.removeAllListeners("request");
  server.on("request", (req, res) => hook(req, res) || handler(req, res));
}

// Sends `before` ahead of a 200 response's body and `after` behind it (its
// length is then left unstated); any other status goes out as it was.
export function wrapBody(res, { before = "", after = "" }) {
  let wrapped = false;
  const writeHead = res.writeHead;
  res.writeHead = function (status, headers) {
    wrapped = status === 200;
    if (wrapped) delete headers["content-length"];
    writeHead.call(this, status, headers);
    if (wrapped && before) this.write(before);
    return this;
  };
  const end = res.end;
  res.end = function (chunk, ...rest) {
    if (!wrapped || !after) return end.call(this, chunk, ...rest);
    if (chunk && typeof chunk !== "function") this.write(chunk);
    this.write(after);
    return end.call(this, ...rest.filter((r) => typeof r === "function"));
  };
}
