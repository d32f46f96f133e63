// What the demo tests read off the page: result bars, messages, focus order
// and labels.

const SLOW = 5 * 60_000; // a model load or inference under SwiftShader or a busy CPU
const QUICK = 60_000;

// The labels in the bar list `list` once it shows the result for the image
// named `forName` (photos), or, for the camera (forName null), once it shows
// any result, or one with `want` among them. A photo that failed leaves the
// list empty and throws with the page's message.
export async function waitForBars(page, list, forName, want = null) {
  try {
    const handle = await page.waitForFunction(
      ({ list, forName, want }) => {
        const el = document.querySelector(list);
        if (forName !== null && el.dataset.for !== forName) return false;
        const labels = [...el.querySelectorAll(".label")].map((e) => e.textContent);
        if (forName === null && labels.length === 0) return false;
        if (want !== null && !labels.includes(want)) return false;
        return labels;
      },
      { list, forName, want },
      { timeout: SLOW },
    );
    const labels = await handle.jsonValue();
    if (labels.length === 0) throw new Error(`no result for ${forName}`);
    return labels;
  } catch (e) {
    const shown = await bars(page, list);
    throw new Error(`${e.message.split("\n")[0]}; bars [${shown}]; page says: ${await visibleError(page)}`);
  }
}

const bars = (page, list) => page.$$eval(`${list} .label`, (els) => els.map((e) => e.textContent));

const visibleText = async (page, id) =>
  (await page.isVisible(`#${id}`)) ? await page.textContent(`#${id}`) : "(nothing)";
const visibleError = (page) => visibleText(page, "error");

// The text of the message area `id` ("error", "notice") once it shows one
// matching `pattern`.
async function waitForMessage(page, id, pattern) {
  try {
    await page.waitForFunction(
      ({ id, source }) => {
        const el = document.getElementById(id);
        return !el.hidden && new RegExp(source).test(el.textContent);
      },
      { id, source: pattern.source },
      { timeout: QUICK },
    );
  } catch {
    throw new Error(`no ${id} matching ${pattern}; it says: ${await visibleText(page, id)}`);
  }
  return page.textContent(`#${id}`);
}

export const waitForError = (page, pattern) => waitForMessage(page, "error", pattern);
export const waitForNotice = (page, pattern) => waitForMessage(page, "notice", pattern);

// The gallery's thumbnails once each has its caption: [{ name, top, caption, current }]
// (`top` empty where the photo could not be classified).
export async function galleryCaptions(page, count) {
  const done = ({ count }) => {
    const items = [...document.querySelectorAll("#gallery li")];
    return items.length === count && items.every((li) => li.dataset.top !== undefined);
  };
  try {
    await page.waitForFunction(done, { count }, { timeout: SLOW });
  } catch (e) {
    throw new Error(`${e.message.split("\n")[0]}; page says: ${await visibleError(page)}`);
  }
  return page.$$eval("#gallery li", (items) =>
    items.map((li) => ({
      name: li.dataset.name,
      top: li.dataset.top,
      caption: li.querySelector(".label").textContent,
      current: li.hasAttribute("aria-current"),
    })),
  );
}

// The controls that Tab visits, from the top of the page, `n` presses at most:
// ids, "backend:VALUE" for the radios, "sample:FILE" for the sample photos.
export async function tabStops(page, n) {
  await page.evaluate(() => document.activeElement?.blur());
  const stops = [];
  for (let i = 0; i < n; i++) {
    await page.keyboard.press("Tab");
    stops.push(
      await page.evaluate(() => {
        const el = document.activeElement;
        if (el?.name === "backend") return `backend:${el.value}`;
        if (el?.dataset.photo) return `sample:${el.dataset.photo}`;
        return el?.id || el?.tagName;
      }),
    );
  }
  return stops;
}

// Visible form controls with no accessible name (label, aria-label or text).
export const labelledControls = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll("input, select, button, progress, canvas, video")]
      .filter((el) => el.getClientRects().length > 0 || el.classList.contains("visually-hidden"))
      .filter((el) => !el.closest("[aria-hidden=true]"))
      .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
      .map((el) => el.id || el.outerHTML.slice(0, 60)),
  );
