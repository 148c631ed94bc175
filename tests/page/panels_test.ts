/**
 * The demo page's handshake panel, close-code table and echo options in
 * Chromium or Chrome.
 */
import assert from "node:assert/strict";
import { describeLimits } from "../../lib/http/limits_report.ts";
import {
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  PHONE,
  waitForLog,
} from "./_browser.ts";

browserTest(
  "the demo page's handshake panel, close-code table and echo options",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server);

    await t.step(
      "the handshake panel shows what /inspect reports",
      async () => {
        await page.fill("#protocol", "chat");
        await page.click("#inspect");
        await page.locator("#hs-ip", { hasText: "127.0.0.1" }).waitFor();
        assert.equal(
          await page.locator("#hs-origin").textContent(),
          server.http,
        );
        assert.equal(
          await page.locator("#hs-protocols").textContent(),
          "chat → chat",
        );
        assert.match(
          await page.locator("#hs-extensions").textContent() ?? "",
          /^permessage-deflate.* → \(none\)$/,
        );
        assert.match(
          await page.locator("#hs-headers").textContent() ?? "",
          /^upgrade: websocket$/m,
        );
        assert.equal(
          await page.locator("#hs-limits tr").count(),
          Object.keys(describeLimits(server.services.config)).length,
        );
        await page.locator("#hs-limits tr", {
          hasText: /MAX_MESSAGE_BYTES\s*1 MiB$/,
        }).waitFor();
        await page.locator("#hs-limits tr", {
          hasText: /MAX_CONNECTIONS_PER_IP\s*\d+ connections$/,
        }).waitFor();
        await page.selectOption("#lang", "zh-Hant");
        await page.locator("#hs-limits tr", {
          hasText: /MAX_CONNECTIONS_PER_IP\s*\d+ 條連線$/,
        }).waitFor();
        await page.selectOption("#lang", "en");
        await page.fill("#protocol", "");
      },
    );

    await t.step(
      "on a phone a limit's name wraps only after an underscore, and a wrapped line of code goes on indented",
      async () => {
        await page.setViewportSize(PHONE);
        // Each place a name's line ends: the character before the next line's.
        const breaks = await page.evaluate(`[...document.querySelectorAll(
          "#hs-limits code")].flatMap((code) => {
          const found = [];
          let before = "";
          let top;
          const range = document.createRange();
          for (const node of code.childNodes) {
            if (node.nodeType !== Node.TEXT_NODE) continue;
            for (let i = 0; i < node.data.length; i++) {
              range.setStart(node, i);
              range.setEnd(node, i + 1);
              const y = range.getBoundingClientRect().top;
              if (top !== undefined && y > top + 2) {
                found.push(code.textContent + " after " + before);
              }
              top = y;
              before = node.data[i];
            }
          }
          return found;
        })`) as string[];
        assert.ok(breaks.length > 0, "some names wrap at 390 px");
        for (const line of breaks) assert.match(line, / after _$/, line);
        assert.equal(
          await page.locator("#hs-limits code").first().textContent(),
          "MAX_MESSAGE_BYTES",
        );
        // The probe's code: a line the width wraps goes on 6 characters in,
        // past the code's own indents (2 and 4), not at the left edge.
        const wraps = await page.evaluate(`(() => {
          const code = document.getElementById("code");
          const text = code.firstChild;
          const range = document.createRange();
          const box = (i) => {
            range.setStart(text, i);
            range.setEnd(text, i + 1);
            return range.getBoundingClientRect();
          };
          const left = code.getBoundingClientRect().left;
          const width = box(0).width;
          const starts = [];
          let top = box(0).top;
          for (let i = 1; i < text.data.length; i++) {
            const b = box(i);
            if (b.width === 0) continue;
            const hard = text.data[i - 1] === "\\n";
            if (b.top > top + 2 && !hard) {
              starts.push(Math.round((b.left - left) / width));
            }
            top = b.top;
          }
          return starts;
        })()`) as number[];
        assert.ok(wraps.length > 0, "the probe's code wraps at 390 px");
        for (const column of wraps) assert.ok(column >= 6, `at ${column}`);
        await page.setViewportSize(DESKTOP);
      },
    );

    await t.step(
      "the close-code table explains each code in all three languages",
      async () => {
        const texts = new Map<string, string[]>();
        for (const lang of LANGUAGES) {
          await page.selectOption("#lang", lang);
          const cells = await page.locator(".close-codes td")
            .allTextContents();
          assert.equal(cells.length, 14);
          for (const cell of cells) {
            assert.ok(cell.length > 10, `${lang}: ${cell}`);
          }
          texts.set(lang, cells);
        }
        const [en, hant, hans] = [...texts.values()];
        for (let i = 0; i < 14; i++) {
          assert.equal(new Set([en![i], hant![i], hans![i]]).size, 3, en![i]);
        }
        assert.deepEqual(
          await page.locator(".close-codes th").allTextContents(),
          [
            "1000",
            "1001",
            "1002",
            "1003",
            "1005",
            "1006",
            "1007",
            "1008",
            "1009",
            "1010",
            "1011",
            "1013",
            "3000–3999",
            "4000–4999",
          ],
        );
        await page.selectOption("#lang", "en");
      },
    );

    await t.step(
      "delay and format=json go into the URL and show in the round trip",
      async () => {
        await page.fill("#delay", "300");
        await page.locator("#delay").dispatchEvent("change");
        await page.check("#format-json");
        assert.equal(
          await page.locator("#url").inputValue(),
          `${server.ws}/echo?delay=300&format=json`,
        );
        await connectPage(page);
        await page.fill("#text", "slow");
        await page.click("#send-text");
        await waitForLog(page, /JSON echo #1, text: slow/);
        const roundTrip = Number(
          await page.locator("#round-trip").textContent(),
        );
        // The server sends once Date.now() (whole ms) reaches the arrival's
        // reading + 300, more than 299 ms later, and the page counts from
        // before send() (round_trip_test) and shows whole ms: at least 299.
        assert.ok(
          roundTrip >= 299,
          `round trip ${roundTrip} ms under delay=300`,
        );
        await page.fill("#hex", "de ad be ef");
        await page.click("#send-hex");
        await waitForLog(page, /JSON echo #2, binary: de ad be ef/);
      },
    );

    await t.step(
      "on /inspect with a greeting, the round trip is the echo's, not the report's",
      async () => {
        await page.click("#close");
        await page.locator("#ready-state", { hasText: "3 CLOSED" }).waitFor();
        await page.fill("#url", `${server.ws}/inspect?greeting&delay=300`);
        await connectPage(page);
        await waitForLog(page, /Welcome to ws-echo/);
        await page.fill("#text", "paired");
        await page.click("#send-text");
        await page.locator("#log li.message", { hasText: /text: paired/ })
          .waitFor();
        const roundTrip = Number(
          await page.locator("#round-trip").textContent(),
        );
        assert.ok(
          roundTrip >= 299,
          `round trip ${roundTrip} ms under delay=300: the echo, not the report`,
        );
      },
    );

    await t.step(
      "the stream links a close to its row in the table",
      async () => {
        await page.fill("#close-code", "4000");
        await page.click("#close");
        const link = page.locator("#log li.close a", { hasText: "4000" });
        await link.waitFor();
        assert.equal(await link.getAttribute("href"), "#close-4000-4999");
        assert.equal(await link.textContent(), "what 4000 means");
        assert.equal(
          await page.locator("#close-4000-4999").getAttribute("class"),
          "current",
        );
        await link.click();
        assert.equal(new URL(page.url()).hash, "#close-4000-4999");
      },
    );

    await t.step(
      "the close row's time lines up with the message rows' times",
      async () => {
        const left = (selector: string) =>
          page.locator(selector).last().evaluate((cell) =>
            Math.round(cell.getBoundingClientRect().right)
          );
        const message = await left("#log li.message .meta .time");
        const close = await left("#log li.close .meta .time");
        assert.equal(close, message, "right edges of the time cells");
      },
    );

    await t.step("no console errors", () => {
      assert.deepEqual(problems, []);
    });
  },
);
