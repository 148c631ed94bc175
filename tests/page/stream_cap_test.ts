/**
 * The demo page's stream under a long session, in Chromium or Chrome: it
 * keeps at most 1,000 entries and still takes input (see browser_test.ts for
 * how the browser is found).
 */
import assert from "node:assert/strict";
import { withDeadline } from "../_client.ts";
import {
  browserTest,
  connectPage,
  openDemo,
  sendBurst,
  WAIT_MS,
} from "./_browser.ts";

browserTest(
  "the stream keeps at most 1,000 entries and still takes input after 2,400 events",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server);
    await connectPage(page);

    // How long this takes is measured by bench/page_stream.ts, not asserted.
    await t.step("1,200 sends and 1,200 echoes", async () => {
      await sendBurst(page, 1200);
      assert.equal(await page.locator("#log li").count(), 1000);
      assert.match(
        await page.locator("#stream-count").textContent() ?? "",
        /1,000 shown of 2,401; the newest 1,000 are kept/,
      );
    });

    await t.step("the page still draws frames afterwards", async () => {
      // Fails if the page's main thread stays blocked past the deadline.
      await withDeadline(
        page.evaluate(`new Promise((resolve) =>
          requestAnimationFrame(() => requestAnimationFrame(resolve))
        )`),
        WAIT_MS,
        "two animation frames",
      );
    });

    await t.step(
      "scrolled up, the stream stays put and offers the new entries",
      async () => {
        await page.locator(".log").evaluate((box) => box.scrollTop = 0);
        await page.locator("#follow").waitFor({ state: "hidden" });
        await page.fill("#text", "while reading");
        await page.press("#text", "Enter");
        await page.locator("#follow", { hasText: "2 new" }).waitFor();
        assert.equal(
          await page.locator(".log").evaluate((box) => box.scrollTop),
          0,
        );
        await page.click("#follow");
        await page.locator("#follow").waitFor({ state: "hidden" });
        assert.ok(
          await page.locator("#log li", { hasText: "text: while reading" })
            .last().isVisible(),
        );
      },
    );
    await t.step(
      "Clear empties the stream and its count starts again",
      async () => {
        await page.click("#clear-log");
        assert.equal(await page.locator("#log li").count(), 0);
        assert.equal(await page.locator("#stream-count").textContent(), "");
        await page.fill("#text", "after clear");
        await page.press("#text", "Enter");
        await page.locator("#stream-count", { hasText: /^2 shown of 2;/ })
          .waitFor();
      },
    );
    await t.step("no console errors", () => assert.deepEqual(problems, []));
  },
);
