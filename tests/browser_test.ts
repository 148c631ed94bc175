/**
 * End-to-end tests of the demo page in Debian's Chromium (/usr/bin/chromium),
 * driven by playwright-core. Screenshots go to test-artifacts/ (not committed).
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { startTestServer, type TestServer } from "./_server.ts";
import { withDeadline } from "./_client.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url);

async function launch(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** Opens the demo page and records console errors, page errors and dialogs. */
async function openDemo(
  browser: Browser,
  server: TestServer,
  locale = "en-US",
) {
  const context = await browser.newContext({ locale });
  const page = await context.newPage();
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss();
  });
  await page.goto(`${server.http}/`);
  return { page, context, problems, dialogs };
}

function logText(page: Page) {
  return page.locator("#log").innerText();
}

async function waitForLog(page: Page, pattern: RegExp) {
  await page.locator("#log li", { hasText: pattern }).first().waitFor();
}

/**
 * A test with its own server and Chromium, both closed afterwards. The
 * sanitizers are off: playwright-core keeps its own pipes and timers open.
 */
function browserTest(
  name: string,
  fn: (
    t: Deno.TestContext,
    browser: Browser,
    server: TestServer,
  ) => Promise<void>,
) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      await using server = startTestServer();
      const browser = await launch();
      try {
        await fn(t, browser, server);
      } finally {
        await browser.close();
      }
    },
  });
}

browserTest("the demo page in Chromium", async (t, browser, server) => {
  const { page, context, problems, dialogs } = await openDemo(
    browser,
    server,
  );

  await t.step(
    "loads with no console errors and the URL prefilled to this server's /echo",
    async () => {
      assert.equal(
        await page.locator("#url").inputValue(),
        `${server.ws}/echo`,
      );
      assert.equal(await page.locator("#ready-state").textContent(), "–");
      assert.deepEqual(problems, []);
    },
  );

  await t.step(
    "connect shows readyState 1 OPEN and logs open",
    async () => {
      await page.click("#connect");
      await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
      await waitForLog(page, /open/);
      assert.match(
        await page.locator("#code").textContent() ?? "",
        /new WebSocket\(/,
      );
    },
  );

  await t.step("text is echoed and shown in the log", async () => {
    await page.fill("#text", "hello from the browser");
    await page.click("#send-text");
    await waitForLog(page, /message\s+text: hello from the browser/);
  });

  await t.step("binary is echoed and shown as size and hex", async () => {
    await page.fill("#hex", "de ad be ef");
    await page.click("#send-hex");
    await waitForLog(page, /binary, 4 bytes: de ad be ef/);
  });

  await t.step(
    "received data is rendered as text, never as HTML",
    async () => {
      const probe = "<img src=x onerror=alert(1)>";
      await page.fill("#text", probe);
      await page.click("#send-text");
      await waitForLog(page, /message\s+text: <img/);
      assert.ok((await logText(page)).includes(`text: ${probe}`));
      assert.equal(await page.locator("#log img").count(), 0);
      assert.deepEqual(dialogs, []);
    },
  );

  await t.step(
    "a burst makes bufferedAmount rise above 0 and drain back to 0",
    async () => {
      await page.fill("#burst-count", "50");
      await page.fill("#burst-size", "64");
      await page.click("#send-burst");
      await waitForLog(page, /sent 50 × 64 KiB/);
      const peak = Number(
        await page.locator("#buffered-peak").textContent(),
      );
      assert.ok(peak > 0, `peak bufferedAmount ${peak}`);
      await page.locator("#buffered", { hasText: /^0$/ }).waitFor();
      await page.locator("#log li", { hasText: "binary, 65536 bytes" }).nth(
        49,
      ).waitFor();
    },
  );

  await t.step(
    "Goodbye is echoed and the server closes with 1000",
    async () => {
      await page.click("#send-goodbye");
      await waitForLog(page, /message\s+text: Goodbye/);
      await waitForLog(page, /close\s+code=1000/);
      await page.locator("#ready-state", { hasText: "3 CLOSED" }).waitFor();
    },
  );

  await t.step(
    "close with 4000 and a reason shows them in the log",
    async () => {
      await page.click("#connect");
      await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
      await page.fill("#close-code", "4000");
      await page.fill("#close-reason", "bye from the page");
      await page.click("#close");
      await waitForLog(
        page,
        /close\s+code=4000 reason="bye from the page" wasClean=true/,
      );
    },
  );

  await t.step("the page has no console errors after all of it", () => {
    assert.deepEqual(problems, []);
  });
  await context.close();

  await t.step(
    "the language switch changes the text and is remembered",
    async () => {
      const demo = await openDemo(browser, server, "en-US");
      assert.equal(
        await demo.page.locator("h1").textContent(),
        "WebSocket, live",
      );
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      for (
        const [lang, heading] of [["zh-Hant", "WebSocket 即時示範"], [
          "zh-Hans",
          "WebSocket 实时演示",
        ], ["en", "WebSocket, live"]]
      ) {
        await demo.page.selectOption("#lang", lang!);
        assert.equal(await demo.page.locator("h1").textContent(), heading);
        assert.equal(
          await demo.page.locator("html").getAttribute("lang"),
          lang,
        );
        await demo.page.screenshot({
          path: new URL(`demo-${lang}.png`, ARTIFACTS).pathname,
          fullPage: true,
        });
      }
      await demo.page.selectOption("#lang", "zh-Hans");
      await demo.page.reload();
      assert.equal(
        await demo.page.locator("h1").textContent(),
        "WebSocket 实时演示",
      );
      await demo.context.close();
    },
  );

  await t.step("the default language follows the browser", async () => {
    const demo = await openDemo(browser, server, "zh-TW");
    assert.equal(
      await demo.page.locator("h1").textContent(),
      "WebSocket 即時示範",
    );
    await demo.context.close();
  });
});

browserTest(
  "the classic tutorial page works against this server unchanged",
  async (_t, browser, server) => {
    const template = await Deno.readTextFile(
      new URL("./fixtures/classic_tutorial.html", import.meta.url),
    );
    const classic = template.replace("__PORT__", String(server.port));
    // The tutorial page comes from a web server of its own, as readers host it.
    const pageServer = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () =>
        new Response(classic, {
          headers: { "content-type": "text/html; charset=utf-8" },
        }),
    );
    try {
      const page = await browser.newPage();
      const dialogs: string[] = [];
      const closed = Promise.withResolvers<void>();
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        if (dialog.message().startsWith("连接已关闭")) closed.resolve();
        dialog.accept();
      });
      await page.goto(`http://127.0.0.1:${pageServer.addr.port}/`);
      await page.click("a");
      await withDeadline(
        closed.promise,
        10_000,
        `the tutorial page's "连接已关闭" dialog on ${server.ws}/`,
      );
      assert.deepEqual(dialogs, [
        "您的浏览器支持 WebSocket!",
        "数据发送中...",
        "数据已接收: 发送数据",
        "数据已接收: Goodbye",
        "连接已关闭...",
      ]);
    } finally {
      await pageServer.shutdown();
    }
  },
);

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
        assert.equal(await page.locator("#hs-limits tr").count(), 11);
        await page.locator("#hs-limits tr", {
          hasText: /MAX_MESSAGE_BYTES\s*1048576 bytes/,
        }).waitFor();
        await page.fill("#protocol", "");
      },
    );

    await t.step(
      "the close-code table explains each code in all three languages",
      async () => {
        const texts = new Map<string, string[]>();
        for (const lang of ["en", "zh-Hant", "zh-Hans"]) {
          await page.selectOption("#lang", lang);
          const cells = await page.locator(".close-codes td")
            .allTextContents();
          assert.equal(cells.length, 9);
          for (const cell of cells) {
            assert.ok(cell.length > 10, `${lang}: ${cell}`);
          }
          texts.set(lang, cells);
        }
        const [en, hant, hans] = [...texts.values()];
        for (let i = 0; i < 9; i++) {
          assert.equal(new Set([en![i], hant![i], hans![i]]).size, 3, en![i]);
        }
        assert.deepEqual(
          await page.locator(".close-codes th").allTextContents(),
          [
            "1000",
            "1001",
            "1005",
            "1006",
            "1008",
            "1009",
            "1011",
            "1013",
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
        await page.click("#connect");
        await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
        await page.fill("#text", "slow");
        await page.click("#send-text");
        await waitForLog(
          page,
          /message\s+text: \{"seq":1,"type":"text","bytes":4,/,
        );
        const roundTrip = Number(
          await page.locator("#round-trip").textContent(),
        );
        assert.ok(
          roundTrip >= 300,
          `round trip ${roundTrip} ms under delay=300`,
        );
      },
    );

    await t.step(
      "the log links a close to its row in the table",
      async () => {
        await page.fill("#close-code", "4000");
        await page.click("#close");
        const link = page.locator("#log li.close a");
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

    await t.step("no console errors", () => {
      assert.deepEqual(problems, []);
    });
  },
);
