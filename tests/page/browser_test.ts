/**
 * End-to-end tests of the demo page in Chromium or Chrome (found by
 * bench/browser.ts), driven by playwright-core. Screenshots go to
 * test-artifacts/ (not committed). Without a browser these tests are
 * reported as ignored, and fail under CI=true.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  connectPage,
  DESKTOP,
  openDemo,
  waitForLog,
} from "./_browser.ts";

browserTest("the demo page in Chromium", async (t, browser, server) => {
  const { page, close, problems, dialogs } = await openDemo(
    browser,
    server,
  );

  await t.step(
    "loads with no console errors and the URL prefilled to this server's /echo",
    async () => {
      assert.equal(
        await page.getByRole("textbox", { name: "URL" }).inputValue(),
        `${server.ws}/echo`,
      );
      assert.equal(await page.locator("#ready-state").textContent(), "–");
      assert.equal(
        await page.getByRole("button", { name: "Send", exact: true })
          .isDisabled(),
        true,
      );
      assert.deepEqual(problems, []);
    },
  );

  await t.step("connect shows 1 OPEN and every transition", async () => {
    await page.getByRole("button", { name: "Connect" }).click();
    await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
    await waitForLog(page, /open/);
    assert.match(await page.locator("#timeline").innerText(), /0 CONNECTING/);
    assert.match(await page.locator("#timeline").innerText(), /1 OPEN/);
    assert.match(
      await page.locator("#code").textContent() ?? "",
      /new WebSocket\(/,
    );
  });

  await t.step(
    "Enter sends; the sent message and its echo are in view at 1280×900",
    async () => {
      const message = page.getByRole("textbox", { name: "Message" });
      await message.fill("hello from the browser");
      await message.press("Enter");
      const echo = page.locator("#log li.message", {
        hasText: "text: hello from the browser",
      });
      await echo.waitFor();
      await page.locator("#log li.send", {
        hasText: "text: hello from the browser",
      }).waitFor();
      assert.match(await echo.innerText(), /22 B/);
      assert.match(await echo.innerText(), /\d\d:\d\d:\d\d\.\d{3}/);
      const box = await echo.boundingBox();
      assert.ok(box, "the echo has a box");
      assert.ok(
        box.y >= 0 && box.y + box.height <= DESKTOP.height &&
          box.x + box.width <= DESKTOP.width,
        `echo at ${JSON.stringify(box)}`,
      );
      assert.equal(await page.evaluate("scrollY"), 0);
    },
  );

  await t.step("↑ brings back the last message; Resend sends it", async () => {
    const message = page.getByRole("textbox", { name: "Message" });
    await message.fill("");
    await message.press("ArrowUp");
    assert.equal(await message.inputValue(), "hello from the browser");
    await page.getByRole("button", { name: "Resend" }).click();
    await page.locator("#log li.message", {
      hasText: "text: hello from the browser",
    }).nth(1).waitFor();
  });

  await t.step("binary is echoed and shown as size and hex", async () => {
    await page.fill("#hex", "de ad be ef");
    await page.click("#send-hex");
    await waitForLog(page, /binary: de ad be ef/);
  });

  await t.step(
    "received data is rendered as text, never as HTML",
    async () => {
      const probe = "<img src=x onerror=alert(1)>";
      await page.fill("#text", probe);
      await page.click("#send-text");
      await page.locator("#log li.message", { hasText: "text: <img" })
        .waitFor();
      assert.equal(await page.locator("#log img").count(), 0);
      assert.deepEqual(dialogs, []);
    },
  );

  await t.step(
    "a long message is cut, with Expand and Copy",
    async () => {
      const long = JSON.stringify({ items: "x".repeat(5000) });
      await page.fill("#text", long);
      await page.click("#send-text");
      const echo = page.locator("#log li.message", { hasText: '{"items"' });
      await echo.waitFor();
      const box = await echo.boundingBox();
      assert.ok(box && box.height < 150, `entry height ${box?.height}`);
      await echo.getByRole("button", { name: "Expand" }).click();
      assert.match(
        await echo.locator("pre").textContent() ?? "",
        /^\{\n {2}"items": "x+"\n\}$/,
      );
      assert.equal(
        await echo.getByRole("button", { name: "Copy" }).count(),
        1,
      );
    },
  );

  await t.step(
    "a burst makes bufferedAmount rise above 0 and drain back to 0",
    async () => {
      await page.fill("#burst-count", "32");
      await page.fill("#burst-size", "64");
      await page.click("#send-burst");
      await waitForLog(page, /sent 32 × 64 KiB/);
      const peak = Number(
        await page.locator("#buffered-peak").getAttribute("data-bytes"),
      );
      assert.ok(peak > 0, `peak bufferedAmount ${peak}`);
      await page.locator("#buffered[data-bytes='0']").waitFor();
      await page.locator("#log li.message", { hasText: "64 KiB" }).nth(31)
        .waitFor();
    },
  );

  await t.step(
    "a second burst at once is held back with a reason, not a slow-reader close",
    async () => {
      await page.evaluate(`{
        const button = document.getElementById("send-burst");
        button.click();
        button.click();
      }`);
      await page.locator("#burst-error", { hasText: "slow reader" }).waitFor();
      await page.locator("#log li.message", { hasText: "64 KiB" }).nth(63)
        .waitFor();
      assert.equal(await page.locator("#ready-state").textContent(), "1 OPEN");
    },
  );

  await t.step("the charts are images with names and summaries", async () => {
    const rtt = page.getByRole("img", { name: /round trip/i });
    assert.equal(await rtt.count(), 1);
    await page.locator("#rtt-summary", { hasText: /\d+ echoes/ }).waitFor();
    assert.equal(await page.locator("#rtt-chart canvas").count(), 1);
    assert.equal(
      await page.getByRole("img", { name: /bufferedAmount/ }).count(),
      1,
    );
  });

  await t.step(
    "Goodbye is echoed and the server closes with 1000",
    async () => {
      await page.click("#send-goodbye");
      await waitForLog(page, /text: Goodbye/);
      await waitForLog(page, /code=1000/);
      await page.locator("#ready-state", { hasText: "3 CLOSED" }).waitFor();
      assert.equal(
        await page.getByRole("button", { name: "Close" }).isDisabled(),
        true,
      );
    },
  );

  await t.step(
    "close with 4000 and a reason shows them, and CLOSING stays in the timeline",
    async () => {
      await connectPage(page);
      await page.getByRole("textbox", { name: "Code" }).fill("4000");
      await page.getByRole("textbox", { name: "Reason" }).fill(
        "bye from the page",
      );
      await page.getByRole("button", { name: "Close" }).click();
      await waitForLog(
        page,
        /code=4000 reason="bye from the page" wasClean=true/,
      );
      assert.match(await page.locator("#timeline").innerText(), /2 CLOSING/);
    },
  );

  await t.step(
    "a reason over 123 bytes is explained next to the field, nothing throws",
    async () => {
      await connectPage(page);
      const reason = "中".repeat(42);
      await page.getByRole("textbox", { name: "Reason" }).fill(reason);
      await page.locator("#close-error", { hasText: "126 bytes" }).waitFor();
      await page.getByRole("button", { name: "Close" }).click();
      assert.equal(
        await page.locator("#ready-state").textContent(),
        "1 OPEN",
      );
      assert.equal(
        await page.locator("#close-reason").getAttribute("aria-invalid"),
        "true",
      );
      await page.getByRole("textbox", { name: "Code" }).fill("1001");
      await page.getByRole("textbox", { name: "Reason" }).fill("ok");
      await page.locator("#close-error", { hasText: "1000 or 3000-4999" })
        .waitFor();
      await page.getByRole("textbox", { name: "Code" }).fill("");
      assert.equal(await page.locator("#close-error").isHidden(), true);
    },
  );

  await t.step(
    "an invalid subprotocol is explained next to the field on Inspect",
    async () => {
      await page.fill("#protocol", "not a token");
      await page.click("#inspect");
      await page.locator("#protocol-error", { hasText: "not a token" })
        .waitFor();
      await page.fill("#protocol", "");
    },
  );

  await t.step("the page has no console errors after all of it", () => {
    assert.deepEqual(problems, []);
  });
  await close();

  await t.step(
    "the language switch changes text and <title>, and is remembered",
    async () => {
      const demo = await openDemo(browser, server);
      for (
        const [lang, heading, title] of [
          ["zh-Hant", "WebSocket 即時示範", "ws-echo：WebSocket 即時示範"],
          ["zh-Hans", "WebSocket 实时演示", "ws-echo：WebSocket 实时演示"],
          ["en", "WebSocket, live", "ws-echo: WebSocket, live"],
        ] as const
      ) {
        await demo.page.selectOption("#lang", lang);
        assert.equal(await demo.page.locator("h1").textContent(), heading);
        assert.equal(await demo.page.title(), title);
        assert.equal(
          await demo.page.locator("html").getAttribute("lang"),
          lang,
        );
        assert.equal(new URL(demo.page.url()).searchParams.get("lang"), lang);
      }
      await demo.page.selectOption("#lang", "zh-Hans");
      await demo.page.goto(`${server.http}/`);
      assert.equal(
        await demo.page.locator("h1").textContent(),
        "WebSocket 实时演示",
      );
      await demo.close();
    },
  );

  await t.step("the default language follows the browser", async () => {
    const demo = await openDemo(browser, server, { locale: "zh-TW" });
    assert.equal(
      await demo.page.locator("h1").textContent(),
      "WebSocket 即時示範",
    );
    await demo.close();
  });

  await t.step("the page's URL carries lang, delay and format", async () => {
    const demo = await openDemo(browser, server, {
      query: "?lang=zh-Hans&delay=300&format=json",
    });
    assert.equal(
      await demo.page.locator("html").getAttribute("lang"),
      "zh-Hans",
    );
    assert.equal(
      await demo.page.locator("#url").inputValue(),
      `${server.ws}/echo?delay=300&format=json`,
    );
    assert.equal(await demo.page.locator("#format-json").isChecked(), true);
    await demo.close();
  });
});
