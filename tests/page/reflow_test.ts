/**
 * The demo page's layout in Chromium or Chrome: it reflows at each width,
 * passes axe-core and is screenshotted in three languages (to
 * test-artifacts/, not committed).
 */
import assert from "node:assert/strict";
import {
  ARTIFACTS,
  axeViolations,
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  overflows,
  PHONE,
} from "./_browser.ts";
import { enterBurst } from "../../bench/demo_page.ts";

browserTest(
  "the page reflows, passes axe-core and is screenshotted in three languages",
  async (t, browser, server) => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    for (const viewport of [DESKTOP, PHONE, { width: 320, height: 640 }]) {
      await t.step(`${viewport.width} px`, async () => {
        for (const lang of LANGUAGES) {
          const { page, close, problems } = await openDemo(browser, server, {
            query: `?lang=${lang}`,
            viewport,
          });
          await connectPage(page);
          await page.fill("#text", "你好, WebSocket");
          await page.press("#text", "Enter");
          await page.locator("#log li.message").waitFor();
          await page.click("#inspect");
          await page.locator("#hs-ip", { hasText: "127.0.0.1" }).waitFor()
            .catch(async (error) => {
              // This wait failed twice in full runs and never alone: say what
              // the page and the server saw.
              const said = async (selector: string) =>
                await page.locator(selector).textContent();
              throw new Error(
                `${lang} at ${viewport.width} px: no /inspect report (${
                  (error as Error).message.split("\n")[0]
                }); #inspect-error ${
                  JSON.stringify(await said("#inspect-error"))
                }, #hs-ip ${JSON.stringify(await said("#hs-ip"))}, page ${
                  JSON.stringify(problems)
                }; server:\n${
                  server.logs.filter((line) => !line.startsWith("http "))
                    .slice(-30).join("\n")
                }`,
              );
            });
          assert.equal(await overflows(page), false, `${lang} overflows`);
          // Code named in the text ("?format=json", "/room/NAME") is never
          // broken across lines (Chinese text broke it after "?" and "/").
          const broken: string[] = await page.evaluate(`[
            ...document.querySelectorAll("code.token")]
            .filter((code) => code.getClientRects().length > 1)
            .map((code) => code.textContent)`);
          assert.deepEqual(broken, [], `${lang}: code broken across lines`);
          assert.ok(
            await page.locator("#options-panel code.token", {
              hasText: "?format=json",
            }).count() === 1,
            `${lang}: ?format=json is code`,
          );
          if (viewport === PHONE) {
            // The introduction comes first; the stream starts on the first
            // screen, right under the composer, and scrolled to, it is all
            // on the screen with the echo in view, as tall as its rows (it
            // kept ~700 px blank below three); with many, it fills most of
            // the screen.
            await page.evaluate("scrollTo(0, 0)");
            const top = async (selector: string) =>
              (await page.locator(selector).boundingBox())?.y ?? Infinity;
            assert.ok(
              await top(".intro") < await top("#connection-panel"),
              `${lang}: the introduction comes before the controls`,
            );
            assert.ok(
              await top("#stream-panel") < PHONE.height,
              `${lang}: the stream starts at ${await top("#stream-panel")}`,
            );
            await page.evaluate(
              `document.getElementById("stream-panel").scrollIntoView()`,
            );
            const stream = await page.locator(".log").boundingBox();
            assert.ok(
              stream && stream.height < 0.4 * PHONE.height &&
                stream.y >= 0 && stream.y + stream.height <= PHONE.height,
              `${lang}: stream at ${JSON.stringify(stream)}`,
            );
            const box = await page.locator("#log li.message").boundingBox();
            assert.ok(
              box && box.y >= stream.y &&
                box.y + box.height <= stream.y + stream.height,
              `${lang}: echo at ${JSON.stringify(box)}`,
            );
            await page.screenshot({
              path: new URL(`demo-${lang}-390-stream.png`, ARTIFACTS).pathname,
            });
            await enterBurst(page, 40);
            // "text: m39" in English, "文本：m39" in Chinese.
            await page.locator("#log li.message .summary", { hasText: /m39$/ })
              .waitFor();
            await page.evaluate(
              `document.getElementById("stream-panel").scrollIntoView()`,
            );
            const full = await page.locator(".log").boundingBox();
            assert.ok(
              full && full.height >= 0.6 * PHONE.height &&
                full.y >= 0 && full.y + full.height <= PHONE.height,
              `${lang}: stream of 40 echoes at ${JSON.stringify(full)}`,
            );
          }
          await page.evaluate("scrollTo(0, 0)");
          await page.screenshot({
            path: new URL(`demo-${lang}-${viewport.width}.png`, ARTIFACTS)
              .pathname,
          });
          if (viewport === DESKTOP && lang === "en") {
            await page.screenshot({
              path: new URL("demo-en-1280-full.png", ARTIFACTS).pathname,
              fullPage: true,
            });
          }
          if (viewport !== PHONE) {
            const violations = await axeViolations(page);
            assert.deepEqual(violations, [], `${lang} at ${viewport.width}`);
          }
          assert.deepEqual(problems, []);
          await close();
        }
      });
    }
  },
);
