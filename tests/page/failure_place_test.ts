/**
 * Where the demo page says why a connection failed, in Chromium (see
 * _browser.ts): once, in the failure box (the stream keeps the browser's
 * own error and close), and on a phone on the first screen, right after
 * Connect is pressed, with no control moved to make room: at 390x844 and at
 * 320x640, where the stream panel starts below the screen. Wherever the page
 * is scrolled, the box covers none of the stream's rows.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  DESKTOP,
  LANGUAGES,
  openDemo,
  type Page,
  PHONE,
} from "./_browser.ts";

/** The smallest phone the page is laid out for. */
const SMALL_PHONE = { width: 320, height: 640 };

/** The server's own words for a refusal asked for with status=503. */
const SAID = "Status 503 was asked for";

/** How often `text` is in what the page shows (the announcer left out). */
function timesShown(page: Page, text: string): Promise<number> {
  return page.evaluate(
    `document.querySelector("main").innerText.split(${
      JSON.stringify(text)
    }).length - 1`,
  );
}

/** Whether the failure box covers a stream row on the screen (page code). */
const ROW_UNDER_BOX = `(() => {
  const box = document.getElementById("failure").getBoundingClientRect();
  return [...document.querySelectorAll("#log li")].some((li) => {
    const row = li.getBoundingClientRect();
    return row.bottom > 0 && row.top < innerHeight &&
      row.top < box.bottom && row.bottom > box.top;
  });
})()`;

/**
 * Scrolls from the top to the bottom a quarter screen at a time and, at each
 * stop, waits for the box to cover no row on the screen (it changes place as
 * the rows come into view).
 */
async function noRowCovered(page: Page, height: number) {
  const end: number = await page.evaluate(
    "document.documentElement.scrollHeight - innerHeight",
  );
  for (let y = 0; y < end + height / 4; y += height / 4) {
    await page.evaluate(`scrollTo(0, ${y}); new Promise((frame) =>
      requestAnimationFrame(() => requestAnimationFrame(frame)))`);
    try {
      await page.waitForFunction(`!${ROW_UNDER_BOX}`);
    } catch {
      const rows = await page.evaluate(`[...document.querySelectorAll(
        "#log li")].map((li) => Math.round(li.getBoundingClientRect().top))`);
      const box = await page.locator("#failure").boundingBox();
      assert.fail(
        `scrolled to ${y}: the box at ${
          JSON.stringify(box)
        } covers rows at ${rows}`,
      );
    }
  }
}

browserTest(
  "a failed connection is explained once, and on a phone without scrolling",
  async (t, browser, server) => {
    const url = `${server.ws}/echo?status=503&retry_after=30`;
    for (const viewport of [SMALL_PHONE, PHONE, DESKTOP]) {
      for (const lang of LANGUAGES) {
        await t.step(`${lang} at ${viewport.width} px`, async () => {
          const { page, context } = await openDemo(browser, server, {
            query: `?lang=${lang}&url=${encodeURIComponent(url)}`,
            viewport,
          });
          const before = await page.locator("#send-text").boundingBox();
          await page.click("#connect");
          await page.locator("#failure-detail", { hasText: SAID }).waitFor();
          await page.locator("#log li.close").waitFor();

          assert.equal(await timesShown(page, SAID), 1, "said once");
          assert.equal(await page.locator("#log li.note").count(), 0);
          assert.deepEqual(
            await page.locator("#send-text").boundingBox(),
            before,
            "the controls stay put",
          );
          const scrolled = await page.evaluate("scrollY");
          assert.equal(scrolled, 0, "the page did not scroll");
          const box = await page.locator("#failure").boundingBox();
          assert.ok(
            box && box.y >= 0 && box.y + box.height <= viewport.height,
            `the box at ${JSON.stringify(box)} in ${viewport.height} px`,
          );
          if (viewport !== DESKTOP) {
            // A control the floating box would cover is scrolled clear of it.
            await page.focus("#text");
            const text = await page.locator("#text").boundingBox();
            const over = await page.locator("#failure").boundingBox();
            assert.ok(
              text && over && text.y + text.height <= over.y,
              `the focused message box at ${
                JSON.stringify(text)
              } is under the failure box at ${JSON.stringify(over)}`,
            );
            // Held over the stream's controls until focus goes there.
            await page.focus("#filter-text");
            const filter = await page.locator("#filter-text").boundingBox();
            const moved = await page.locator("#failure").boundingBox();
            assert.ok(
              filter && moved && moved.y >= filter.y + filter.height,
              `the filter at ${
                JSON.stringify(filter)
              } is not under the box at ${JSON.stringify(moved)}`,
            );
          }
          await page.evaluate("document.activeElement.blur()");
          await noRowCovered(page, viewport.height);
          await context.close();
        });
      }
    }
  },
);
