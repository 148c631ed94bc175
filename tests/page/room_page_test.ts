/**
 * The demo page's Room mode in Chromium: two tabs in one room through the
 * share link. Without a browser the test is reported as ignored, and fails
 * under CI=true (as tests/page/browser_test.ts).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "../../bench/browser.ts";
import { startTestServer } from "../_server.ts";

const BROWSER = findBrowser();
const IN_CI = Deno.env.get("CI") === "true";
const WAIT_MS = 15_000;

Deno.test({
  name:
    "Room mode: a random name, a share link that joins another tab, messages apart and the member count",
  ignore: !BROWSER && !IN_CI,
  // playwright-core keeps its own pipes and timers open.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (!BROWSER) throw new Error(NO_BROWSER_MESSAGE);
    await using server = startTestServer();
    const browser = await chromium.launch({
      executablePath: BROWSER,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const context = await browser.newContext({ locale: "en-US" });
      context.setDefaultTimeout(WAIT_MS);
      const problems: string[] = [];
      const open = async (path: string) => {
        const page = await context.newPage();
        page.on("pageerror", (error) => problems.push(error.message));
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(message.text());
        });
        await page.goto(`${server.http}${path}`);
        return page;
      };
      const first = await open("/");
      const name = await first.locator("#room-name").inputValue();
      await first.getByRole("button", { name: "Join" }).click();
      const second = await open(`/?room=${name}`);

      await t.step(
        "the name is random, and the share link carries it",
        async () => {
          assert.match(name, /^room-[a-z0-9]{10}$/);
          const other = await open("/");
          assert.notEqual(await other.locator("#room-name").inputValue(), name);
          await other.close();
          assert.equal(
            await first.locator("#room-link").getAttribute("href"),
            `${server.http}/?room=${name}&lang=en`,
          );
          assert.equal(await second.locator("#room-name").inputValue(), name);
        },
      );

      await t.step(
        "the share link carries the page's language, and opens the room in it",
        async () => {
          const sender = await open(`/?lang=zh-Hans`);
          const link = await sender.locator("#room-link").getAttribute("href");
          const room = await sender.locator("#room-name").inputValue();
          assert.equal(link, `${server.http}/?room=${room}&lang=zh-Hans`);
          const invited = await open(`/${new URL(link!).search}`);
          assert.equal(
            await invited.evaluate("document.documentElement.lang"),
            "zh-Hans",
          );
          await invited.close();
          await sender.close();
        },
      );

      await t.step(
        "the share link joins by itself: both see two members",
        async () => {
          assert.equal(
            await second.getByRole("button", { name: "Join" }).count(),
            0,
          );
          for (const page of [first, second]) {
            await page.locator("#room-status", { hasText: "2 in the room" })
              .waitFor();
          }
        },
      );

      await t.step(
        "a message shows as yours in one tab and as someone's in the other",
        async () => {
          await first.getByRole("textbox", { name: "Your line" }).fill(
            "hi from tab 1",
          );
          await first.getByRole("button", { name: "Send to the room" }).click();
          await first.locator("#room-log li.room-own", {
            hasText: "hi from tab 1",
          }).waitFor();
          await second.locator("#room-log li.room-other", {
            hasText: "hi from tab 1",
          }).waitFor();
          assert.equal(
            await first.locator("#room-log li.room-other").count(),
            0,
          );
        },
      );

      await t.step("leaving drops the count in the other tab", async () => {
        await second.getByRole("button", { name: "Leave" }).click();
        await first.locator("#room-status", { hasText: "1 in the room" })
          .waitFor();
      });
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await browser.close();
    }
  },
});
