/**
 * Where the demo page says why a connection failed, in Chromium (see
 * _browser.ts): once, in the failure box (the stream keeps the browser's
 * own error and close), in the stream's panel under its header, in the
 * flow: right after Connect it is wholly on the screen at 390x844 and
 * 1280x900, no control above it moved and none covered (at 390x844 it
 * floated over the stream's Export, Import, Clear and filters), and the
 * panel's header stays where it was (the box came first and pushed it
 * down, at 390x844 to the screen's bottom edge). At 320x640, where the
 * stream starts below the screen, a one-line pointer at the screen's bottom
 * edge, covering at most 28 px, says it is there until it is pressed (it
 * scrolls to the box); a focused
 * control is scrolled clear of it. Wherever the page is scrolled, neither
 * covers a stream row.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  DESKTOP,
  LANGUAGES,
  openDemo,
  type Page,
  PHONE,
  waitUntil,
} from "./_browser.ts";

/** The smallest phone the page is laid out for. */
const SMALL_PHONE = { width: 320, height: 640 };

/** In the page's words for a refusal asked for, in every language. */
const SAID = "Retry-After";

/** How often `text` is in what the page shows (the announcer left out). */
function timesShown(page: Page, text: string): Promise<number> {
  return page.evaluate(
    `document.querySelector("main").innerText.split(${
      JSON.stringify(text)
    }).length - 1`,
  );
}

/** Whether the failure box or its pointer covers a stream row (page code). */
const ROW_UNDER_BOX = `(() => {
  const boxes = ["failure", "failure-pointer"]
    .map((id) => document.getElementById(id))
    .filter((element) => !element.hidden)
    .map((element) => element.getBoundingClientRect());
  return [...document.querySelectorAll("#log li")].some((li) => {
    const row = li.getBoundingClientRect();
    return row.bottom > 0 && row.top < innerHeight && boxes.some((box) =>
      row.top < box.bottom && row.bottom > box.top
    );
  });
})()`;

/** The controls on the screen that the failure box covers (page code). */
const CONTROLS_UNDER_BOX = `(() => {
  const box = document.getElementById("failure").getBoundingClientRect();
  return [...document.querySelectorAll(
    "button, input, select, textarea, a[href]",
  )].filter((control) => {
    if (control.closest("#failure") || !control.getClientRects().length) {
      return false;
    }
    const at = control.getBoundingClientRect();
    return at.bottom > box.top && at.top < box.bottom &&
      at.right > box.left && at.left < box.right;
  }).map((control) => control.id || control.textContent.trim());
})()`;

/**
 * Scrolls from the top to the bottom a quarter screen at a time and, at each
 * stop (two frames later), checks that neither the box nor its pointer
 * covers a row on the screen. One evaluate for the whole walk: a round trip
 * per stop cost ~9 s of this test on a busy machine.
 */
async function noRowCovered(page: Page, height: number) {
  const covered: { y: number; rows: number[]; box: unknown } | null = await page
    .evaluate(`(async () => {
      const end = document.documentElement.scrollHeight - innerHeight;
      for (let y = 0; y < end + ${height} / 4; y += ${height} / 4) {
        scrollTo(0, y);
        await new Promise((frame) =>
          requestAnimationFrame(() => requestAnimationFrame(frame)));
        if (${ROW_UNDER_BOX}) {
          const box = document.getElementById("failure")
            .getBoundingClientRect();
          return {
            y,
            rows: [...document.querySelectorAll("#log li")]
              .map((li) => Math.round(li.getBoundingClientRect().top)),
            box: { x: box.x, y: box.y, width: box.width, height: box.height },
          };
        }
      }
      return null;
    })()`);
  if (covered) {
    assert.fail(
      `scrolled to ${covered.y}: the box at ${
        JSON.stringify(covered.box)
      } or its pointer covers rows at ${covered.rows}`,
    );
  }
}

browserTest(
  "a failed connection is explained once, in view, covering nothing",
  async (t, browser, server) => {
    const url = `${server.ws}/echo?status=503&retry_after=30`;
    for (const viewport of [SMALL_PHONE, PHONE, DESKTOP]) {
      for (const lang of LANGUAGES) {
        await t.step(`${lang} at ${viewport.width} px`, async () => {
          const { page, close } = await openDemo(browser, server, {
            query: `?lang=${lang}&url=${encodeURIComponent(url)}`,
            viewport,
          });
          const before = await page.locator("#send-text").boundingBox();
          const header = await page.locator("#stream-title").boundingBox();
          await page.click("#connect");
          await page.locator("#failure-detail", { hasText: SAID }).waitFor();
          await page.locator("#log li.close").waitFor();

          const said = await page.locator("#failure-detail").innerText();
          assert.equal(await timesShown(page, said), 1, "said once");
          assert.equal(await page.locator("#log li.note").count(), 0);
          assert.deepEqual(
            await page.locator("#send-text").boundingBox(),
            before,
            "the controls stay put",
          );
          const scrolled = await page.evaluate("scrollY");
          assert.equal(scrolled, 0, "the page did not scroll");
          const box = await page.locator("#failure").boundingBox();
          assert.deepEqual(
            await page.locator("#stream-title").boundingBox(),
            header,
            "the stream panel's header stays put",
          );
          assert.ok(
            header && box && box.y >= header.y + header.height,
            `the box at ${JSON.stringify(box)} under the header at ${
              JSON.stringify(header)
            }`,
          );
          const pointer = page.locator("#failure-pointer");
          if (viewport !== SMALL_PHONE) {
            assert.ok(
              box && box.y >= 0 && box.y + box.height <= viewport.height,
              `the box at ${JSON.stringify(box)} in ${viewport.height} px`,
            );
            assert.equal(await pointer.isVisible(), false, "no pointer");
            assert.deepEqual(
              await page.evaluate(CONTROLS_UNDER_BOX),
              [],
              "controls under the box",
            );
          } else {
            assert.ok(box && box.y >= viewport.height, "the box is below");
            await pointer.waitFor();
            const over = await pointer.boundingBox();
            assert.ok(
              over && over.y >= 0 && over.y + over.height <= viewport.height,
              `the pointer at ${JSON.stringify(over)}`,
            );
            // One line of the page at most, at the very bottom (it covered
            // 44 px: two lines of the composer's hint).
            assert.ok(
              viewport.height - over.y <= 28,
              `the pointer covers the screen's bottom ${
                viewport.height - over.y
              } px`,
            );
            assert.match(await pointer.innerText(), /^↓ /);
            // A control it would cover is scrolled clear of it.
            await page.focus("#text");
            const text = await page.locator("#text").boundingBox();
            const still = await pointer.boundingBox();
            assert.ok(
              text && still && text.y + text.height <= still.y,
              `the focused message box at ${
                JSON.stringify(text)
              } is under the pointer at ${JSON.stringify(still)}`,
            );
            await pointer.click();
            await pointer.waitFor({ state: "hidden" });
            await waitUntil(
              page,
              `document.getElementById("failure").getBoundingClientRect()
                .top < innerHeight`,
              "the box scrolled onto the screen",
            );
          }
          await page.evaluate("document.activeElement.blur()");
          await noRowCovered(page, viewport.height);
          await close();
        });
      }
    }
  },
);
