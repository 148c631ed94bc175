/**
 * What the demo page teaches before and right after the first echo, in each
 * language at 1280x900 and 390x844 (newcomer6 item 3): the empty Messages
 * panel says what to do and what will appear there (it was an empty box),
 * the code panel says what it will show (it was empty), and after a Send it
 * shows the whole program so far: the connect, its handlers and the send
 * (it showed only `ws.send("hi");`), and after Goodbye the send and the
 * Goodbye both (newcomer7: only the last action). Connect, Send, Send
 * "Goodbye" and readyState are on the first screen (newcomer7: Goodbye was
 * ~1,850 px down at 1280). After Send the echo is on the screen beside Send
 * (newcomer8: below it at 390x844), and after Goodbye its close row too.
 * Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import {
  ARTIFACTS,
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  PHONE,
  waitUntil,
} from "./_browser.ts";
import { MESSAGES } from "../../static/i18n.js";

browserTest(
  "the first screen says what to do, and the code panel keeps the whole program",
  async (t, browser, server) => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    for (const lang of LANGUAGES) {
      for (
        const [width, viewport] of [["desktop", DESKTOP], [
          "phone",
          PHONE,
        ]] as const
      ) {
        const words = MESSAGES[lang]!;
        const shot = (what: string) =>
          new URL(`first-sight-${lang}-${width}-${what}.png`, ARTIFACTS)
            .pathname;
        await t.step(`${lang} ${width}`, async (t) => {
          const { page, close, problems } = await openDemo(browser, server, {
            query: `?lang=${lang}`,
            viewport,
          });
          const hint = page.locator("#log-empty");
          const code = page.locator("#code");
          await t.step(
            "before Connect: both panels say what comes",
            async () => {
              await hint.waitFor();
              assert.equal(await hint.innerText(), words.streamEmpty);
              // The classic tutorial's steps and the socket's state, all on
              // the first screen (Goodbye was ~1,850 px down at 1280 and
              // readyState ~1,100 px).
              for (
                const id of ["connect", "text", "send-text", "send-goodbye"]
              ) {
                const box = await page.locator(`#${id}`).boundingBox();
                assert.ok(
                  box && box.y >= 0 && box.y + box.height <= viewport.height,
                  `#${id} at ${JSON.stringify(box)}`,
                );
              }
              const state = await page.locator("#ready-state").boundingBox();
              assert.ok(
                state && state.y + state.height <= viewport.height,
                `readyState at ${JSON.stringify(state)}`,
              );
              assert.equal(await page.locator("#ready-state").innerText(), "–");
              assert.equal(await code.innerText(), `// ${words["code.empty"]}`);
              await page.screenshot({ path: shot("load") });
              await page.locator("#stream-panel").screenshot({
                path: shot("load-stream"),
              });
            },
          );
          await t.step("the hint goes with the first row", async () => {
            // From the first screen, as a newcomer starts (the panel's
            // screenshot above scrolled the page).
            await page.evaluate("scrollTo(0, 0)");
            await connectPage(page);
            await hint.waitFor({ state: "hidden" });
          });
          await t.step(
            "after Send the code is connect, handlers and the send",
            async () => {
              await page.fill("#text", "hi");
              await page.click("#send-text");
              await page.locator("#log li.message", { hasText: "hi" })
                .waitFor();
              // The echo comes into view, and Send stays there (newcomer8:
              // at 390x844 the echo was below the screen).
              await waitUntil(
                page,
                `document.querySelector("#log li.message:last-child")
                  .getBoundingClientRect().bottom <= innerHeight &&
                document.getElementById("send-text")
                  .getBoundingClientRect().top >= 0`,
                "the echo on the screen, with Send",
              );
              const program = await code.innerText();
              assert.match(program, /^const ws = new WebSocket\("ws:/);
              assert.match(program, /\nws\.onmessage = /);
              assert.match(program, /\nws\.onclose = /);
              assert.ok(
                program.endsWith(
                  `\n\n// ${words["code.afterOpen"]}\n` +
                    `ws.addEventListener("open", () => {\n` +
                    `  ws.send("hi");\n});`,
                ),
                program,
              );
              await page.locator("#code-panel").screenshot({
                path: shot("sent-code"),
              });
            },
          );
          await t.step(
            "Goodbye follows the send: the code is the whole session",
            async () => {
              await page.click("#send-goodbye");
              await page.locator("#log li.close", { hasText: "1000" })
                .waitFor();
              // The close row comes into view too, below Goodbye's echo
              // (at 390x844 it stayed below the screen).
              await waitUntil(
                page,
                `document.querySelector("#log li.close:last-child")
                  .getBoundingClientRect().bottom <= innerHeight &&
                document.getElementById("send-goodbye")
                  .getBoundingClientRect().top >= 0`,
                'the close row on the screen, with Send "Goodbye"',
              );
              const program = await code.innerText();
              assert.match(program, /^const ws = new WebSocket\(/);
              assert.ok(
                program.endsWith(
                  `\n\n// ${words["code.afterOpen"]}\n` +
                    `ws.addEventListener("open", () => {\n` +
                    `  ws.send("hi");\n` +
                    `  ws.send("Goodbye"); // ${words["code.goodbye"]}\n});`,
                ),
                program,
              );
              // The program runs as pasted, as one script: the echoes come
              // back and the server closes after Goodbye.
              const ran = await page.evaluate(`new Promise((resolve) => {
                const echoes = [];
                ${program}
                ws.addEventListener("message", (event) => echoes.push(event.data));
                ws.addEventListener("close", (event) =>
                  resolve({ echoes, code: event.code, reason: event.reason }));
                setTimeout(() => resolve("no close within 10 s"), 10000);
              })`);
              assert.deepEqual(ran, {
                echoes: ["hi", "Goodbye"],
                code: 1000,
                reason: "Goodbye",
              });
              await page.locator("#ready-state", { hasText: "3 CLOSED" })
                .waitFor();
            },
          );
          await t.step("Clear brings the hint back", async () => {
            await page.click("#clear-log");
            await hint.waitFor();
          });
          assert.deepEqual(problems, []);
          await close();
        });
      }
    }
  },
);
