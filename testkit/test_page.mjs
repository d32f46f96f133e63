// The start and end every browser suite shares: serve the tree, open the
// suite's page in headless Chromium, run its checks, close both.
import { TEST_MOUNTS, serve } from "../scripts/serve.mjs";
import { openPage } from "./chromium.mjs";
import { check, finish, missing } from "./report.mjs";

/**
 * Opens `tests/<folder>/page.html`, served with that folder mounted beside
 * TEST_MOUNTS; `options` go to openPage. A browser that does not start is
 * `missing` (a failure under CI=true) and ends the run. Resolves to openPage's
 * { page, context } with the server's `origin`, and `checks(body)`: runs
 * `body()`, a throw in it a failed check, then closes the browser and the
 * server and ends the run, named `suite`.
 */
export async function openTestPage(folder, suite, { mounts = {}, ...options } = {}) {
  const dir = `tests/${folder}`;
  const { server, origin } = await serve({ mounts: { ...TEST_MOUNTS, [`/${dir}/`]: dir, ...mounts } });
  let browser;
  try {
    browser = await openPage(`${origin}/${dir}/page.html`, options);
  } catch (e) {
    server.close();
    missing(`${suite} checks: the browser did not start: ${e.message}`);
    finish(suite);
  }
  const checks = async (body) => {
    try {
      await body();
    } catch (e) {
      check(false, `${e.stack ?? e}`);
    } finally {
      await browser.close();
      server.close();
    }
    finish(suite);
  };
  return { page: browser.page, context: browser.context, origin, checks };
}
