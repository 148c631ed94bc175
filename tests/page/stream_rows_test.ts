/**
 * The stream's rows in Chromium (see _browser.ts), at 390 px and 1280 px in
 * every language: each row's time sits on the row's first line, level with
 * its message, in one column; an event row (open, error, close) has no size
 * or Expand, so its words use that width instead of wrapping in the
 * message column, and neither does a burst's report.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  type Page,
  PHONE,
} from "./_browser.ts";

interface Box {
  top: number;
  right: number;
}

interface Row {
  kind: string;
  summary: Box;
  time: Box;
  size: Box;
}

/** Each row's summary, time and size cells, as the page lays them out. */
function rows(page: Page): Promise<Row[]> {
  return page.evaluate(`[...document.querySelectorAll("#log li")].map((li) => {
    const box = (selector) => {
      const cell = li.querySelector(selector);
      if (!cell || !cell.getClientRects().length) return undefined;
      const rect = cell.getBoundingClientRect();
      return { top: Math.round(rect.top), right: Math.round(rect.right) };
    };
    return {
      kind: li.className.replace("entry ", ""),
      summary: box(".summary"),
      time: box(".time"),
      size: box(".size"),
    };
  })`);
}

browserTest(
  "each row's time is on its first line, and event rows use the free width",
  async (t, browser, server) => {
    for (const viewport of [PHONE, DESKTOP]) {
      for (const lang of LANGUAGES) {
        await t.step(`${lang} at ${viewport.width} px`, async () => {
          const { page, context } = await openDemo(browser, server, {
            query: `?lang=${lang}`,
            viewport,
          });
          await connectPage(page);
          await page.fill("#text", "hello");
          await page.press("#text", "Enter");
          await page.locator("#log li.message").waitFor();
          await page.fill("#burst-count", "2");
          await page.fill("#burst-size", "1");
          await page.click("#send-burst");
          await page.locator("#log li.message").nth(2).waitFor();
          await page.fill("#close-code", "4000");
          await page.fill("#close-reason", "a reason that takes some room");
          await page.click("#close");
          await page.locator("#log li.close").waitFor();
          // A refused upgrade adds the error row and a close 1006.
          await page.fill("#url", `${server.ws}/echo?status=503`);
          await page.click("#connect");
          await page.locator("#log li.close").nth(1).waitFor();

          const found = await rows(page);
          const kinds = found.map((row) => row.kind);
          for (const kind of ["open", "send", "message", "close", "error"]) {
            assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
          }
          const message = found.find((row) => row.kind === "message")!;
          for (const row of found) {
            assert.ok(
              Math.abs(row.time.top - row.summary.top) <= 1,
              `${row.kind}: time at ${row.time.top}, words at ${row.summary.top}`,
            );
            assert.equal(
              row.time.right,
              message.time.right,
              `${row.kind}: the time column`,
            );
          }
          for (
            const row of found.filter((row) => !/send|message/.test(row.kind))
          ) {
            // Past the messages' size column: the width nothing else uses.
            assert.ok(
              row.summary.right >= message.size.right - 1,
              `${row.kind}: words end at ${row.summary.right}, sizes at ${message.size.right}`,
            );
          }
          // The burst's report is read whole, not cut at the Expand column.
          const burst = page.locator("#log li.send", {
            hasText: "bufferedAmount",
          }).locator(".summary");
          assert.ok(
            await burst.evaluate((cell) =>
              cell.scrollWidth <= cell.clientWidth
            ),
            `the burst's words are cut: ${await burst.textContent()}`,
          );
          await context.close();
        });
      }
    }
  },
);
