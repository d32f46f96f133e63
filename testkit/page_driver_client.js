// In a page under test: takes the runner's calls (testkit/page_driver.mjs)
// over this page's own origin, so that no browser automation session is
// open; each runs pageCall (page_call.js). Calls run
// concurrently, so one that never settles does not hold the others.
import { pageCall } from "./page_call.js";

const params = new URL(import.meta.url).searchParams;
const base = `/__driver/${params.get("session")}`;
const post = (path, data) => fetch(`${base}/${path}`, { method: "POST", body: JSON.stringify(data) });

if (params.has("echo")) {
  for (const type of ["log", "info", "warn", "error"]) {
    const original = console[type];
    console[type] = (...args) => {
      original.apply(console, args);
      post("console", { type, text: args.map(String).join(" ") }).catch(() => {});
    };
  }
}

async function answer({ id, op, path, args }) {
  try {
    await post(`answer/${id}`, { value: (await pageCall(op, path, args)) ?? null });
  } catch (e) {
    // The message first: Firefox's stack leaves it out.
    await post(`answer/${id}`, { error: `${e}\n${e?.stack ?? ""}` });
  }
}

for (;;) {
  const res = await fetch(`${base}/next`, { cache: "no-store" }).catch(() => null);
  if (!res || res.status === 410) break; // the session is over
  if (res.status === 200) answer(await res.json());
}
