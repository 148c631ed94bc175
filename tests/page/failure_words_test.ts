/**
 * How the demo page explains a connection that failed, in Chromium or
 * Chrome: before opening (a refusal asked for with `status=` said as such
 * first; a 400 about options named option by option, any other 400 not),
 * a refusal for too many connections, a limit's close with the server's
 * reason.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { browserTest, connectPage, openDemo, waitForLog } from "./_browser.ts";

browserTest(
  "failures before opening are explained in words",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server);

    await t.step("a 404 upgrade shows 404 and a sentence", async () => {
      await page.getByRole("textbox", { name: "URL" }).fill(
        `${server.ws}/nope`,
      );
      await page.getByRole("button", { name: "Connect" }).click();
      const failure = page.locator("#failure", { hasText: "404" });
      await failure.waitFor();
      assert.match(
        await failure.innerText(),
        /Not found \(404\): this server has no WebSocket endpoint at \/nope\./,
      );
      await waitForLog(page, /code=1006 .*\(the connection never opened\)/);
    });

    await t.step(
      "a bad option is named with what it takes; the server's words are folded",
      async () => {
        await page.fill("#url", `${server.ws}/echo?delay=99999`);
        await page.click("#connect");
        await page.locator("#failure", { hasText: "Bad request (400)" })
          .waitFor();
        assert.equal(
          await page.locator("#failure-detail").innerText(),
          "Bad request (400): the server refused delay=99999 in the URL: it takes a whole number 0-10000.",
        );
        assert.equal(await page.locator("#failure-body").isVisible(), false);
        await page.click("#failure-words summary");
        assert.match(
          await page.locator("#failure-body").innerText(),
          /^Invalid option "delay": expected an integer 0-10000\n\nOptions:\n/,
        );
      },
    );

    await t.step(
      "a refusal asked for with status= is said to be asked for, first",
      async () => {
        await page.fill("#url", `${server.ws}/echo?status=503&retry_after=30`);
        await page.click("#connect");
        const detail = page.locator("#failure-detail");
        await page.locator("#failure-detail", { hasText: "asked" }).waitFor();
        const said = await detail.innerText();
        // It said "Server busy (503) ... retry in a little while", then
        // quoted "this refusal is a test, not a fault" (newcomer7), then the
        // quote repeated the page's own words (newcomer8): they are in the
        // disclosure now.
        assert.equal(
          said,
          "Refused as you asked (503): status=503 is in the URL, so the server refused on purpose, with Retry-After: 30 s. Take it out to connect.",
        );
        const summary = page.locator("#failure-words summary");
        assert.equal(
          await summary.innerText(),
          "What the server said (English)",
        );
        await summary.click();
        assert.match(
          await page.locator("#failure-body").innerText(),
          /^Status 503 was asked for \(status=503\): this refusal is a test/,
        );
      },
    );

    await t.step(
      "a 400 that is not about options does not speak of options",
      async () => {
        await page.fill("#url", `${server.ws}/echo?status=400`);
        await page.click("#connect");
        await page.locator("#failure-detail", {
          hasText: "Refused as you asked (400)",
        }).waitFor();
        await page.fill("#url", `${server.ws}/room/bad%20name`);
        await page.click("#connect");
        await page.locator("#failure-detail", { hasText: "Bad room name" })
          .waitFor();
        const said = await page.locator("#failure-detail").innerText();
        assert.match(
          said,
          /^Bad request \(400\): the server refused this URL\. It said: Bad room name: /,
        );
        assert.doesNotMatch(said, /option/);
      },
    );

    await t.step(
      "on a zh-Hant phone the box is in Chinese and about a third of the screen",
      async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        await page.selectOption("#lang", "zh-Hant");
        try {
          await page.fill("#url", `${server.ws}/echo?format=raw&format=raw`);
          await page.click("#connect");
          await page.locator("#failure", {
            hasText:
              "錯誤的請求（400）：伺服器拒絕了網址中的 format=raw：它只能出現一次。",
          }).waitFor();
          // The folded list is the only English: the newcomer saw 580 px of it.
          const seen = await page.locator("#failure").innerText();
          assert.doesNotMatch(seen, /Invalid option|Options:|expected/);
          assert.match(seen, /伺服器的原話（英文）與它接受的全部選項/);
          const { height } = (await page.locator("#failure").boundingBox())!;
          assert.ok(height < 844 / 3, `the box is ${height} px tall`);
        } finally {
          await page.selectOption("#lang", "en");
          await page.setViewportSize({ width: 1280, height: 900 });
        }
      },
    );

    await t.step(
      "wss:// to this plain server says it speaks ws:// and what to try",
      async () => {
        const secure = `${server.ws.replace(/^ws:/, "wss:")}/echo`;
        await page.fill("#url", secure);
        await page.click("#connect");
        await page.locator("#failure", {
          hasText: `speaks ws://, not wss:// (TLS): try ${server.ws}/echo`,
        }).waitFor();
      },
    );

    await t.step("an unreachable server is named as such", async () => {
      await server.server.shutdown();
      await page.fill("#url", `${server.ws}/echo`);
      await page.click("#connect");
      await page.locator("#failure", { hasText: "Server unreachable" })
        .waitFor();
    });

    await t.step("a URL that is no URL is explained next to it", async () => {
      await page.fill("#url", "not a url");
      await page.click("#connect");
      await page.locator("#url-error", { hasText: "Not a URL" }).waitFor();
    });

    await t.step("no page errors", () => {
      // Chromium itself logs each failed handshake and refused fetch.
      assert.deepEqual(
        problems.filter((text) =>
          !/^(WebSocket connection|Failed to load resource)/.test(text)
        ),
        [],
      );
    });
  },
);

browserTest(
  "a refusal for too many connections is named as such",
  async (t, browser, server) => {
    const first = await openDemo(browser, server);
    await connectPage(first.page);
    const second = await openDemo(browser, server);
    await t.step(
      "a second page from the same address is told why",
      async () => {
        await second.page.click("#connect");
        await second.page.locator("#failure", {
          hasText: "Too many connections (429)",
        }).waitFor();
        assert.equal(
          await second.page.locator("#announcer").textContent(),
          await second.page.locator("#failure-detail").textContent(),
        );
      },
    );
  },
  { MAX_CONNECTIONS_PER_IP: "1" },
);

browserTest(
  "a limit close shows the server's reason",
  async (t, browser, server) => {
    const { page } = await openDemo(browser, server);
    await connectPage(page);
    await t.step(
      "a file over MAX_MESSAGE_BYTES is said to be before it is sent",
      async () => {
        const hint = page.locator("#file-hint");
        await page.setInputFiles("#file", {
          name: "small.bin",
          mimeType: "application/octet-stream",
          buffer: Buffer.alloc(1000),
        });
        assert.equal(await hint.isHidden(), true, "1000 bytes is allowed");
        await page.setInputFiles("#file", {
          name: "large.bin",
          mimeType: "application/octet-stream",
          buffer: Buffer.alloc(2000),
        });
        await hint.waitFor();
        assert.match(
          await hint.innerText(),
          /over this server's MAX_MESSAGE_BYTES of 1,000 B/,
        );
      },
    );
    await t.step("1009 for a message over MAX_MESSAGE_BYTES", async () => {
      await page.fill("#random-size", "2000");
      await page.click("#send-random");
      await page.locator("#failure", { hasText: "1009" }).waitFor();
      assert.match(
        await page.locator("#failure").innerText(),
        /message too big: limit is 1000 bytes/,
      );
    });
  },
  { MAX_MESSAGE_BYTES: "1000" },
);
