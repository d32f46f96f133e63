// Helpers for the node:test suites (tests/node): a promise's rejection, and
// a local HTTP server.
import assert from "node:assert/strict";
import { createServer } from "node:http";

// The error `promise` rejects with; fails the test if it resolves.
export async function failure(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail("resolved");
}

// A server for `handler` on a free local port: `{ server, origin }`.
export async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}
