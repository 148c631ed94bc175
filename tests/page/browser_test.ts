/**
 * End-to-end tests of the demo page in Chromium or Chrome (found by
 * bench/browser.ts), driven by playwright-core. Screenshots go to
 * test-artifacts/ (not committed). Without a browser these tests are
 * reported as ignored, and fail under CI=true.
 */
import assert from "node:assert/strict";
import { withDeadline } from "../_client.ts";
import { describeLimits } from "../../lib/http/limits_report.ts";
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
  WAIT_MS,
  waitForLog,
} from "./_browser.ts";

browserTest("the demo page in Chromium", async (t, browser, server) => {
  const { page, context, problems, dialogs } = await openDemo(
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
  await context.close();

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
      await demo.context.close();
    },
  );

  await t.step("the default language follows the browser", async () => {
    const demo = await openDemo(browser, server, { locale: "zh-TW" });
    assert.equal(
      await demo.page.locator("h1").textContent(),
      "WebSocket 即時示範",
    );
    await demo.context.close();
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
    await demo.context.close();
  });
});

browserTest(
  "the stream keeps at most 1,000 entries and still takes input after 2,400 events",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server);
    await connectPage(page);

    // How long this takes is measured by bench/page_stream.ts, not asserted.
    await t.step("1,200 sends and 1,200 echoes", async () => {
      // Enter in the Message field, 1,200 times in one task.
      await page.evaluate(`{
        const field = document.getElementById("text");
        for (let i = 0; i < 1200; i++) {
          field.value = "m" + i;
          field.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
        }
      }`);
      await page.locator("#log li.message", { hasText: "text: m1199" })
        .waitFor();
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
    await t.step("no console errors", () => assert.deepEqual(problems, []));
  },
);

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

    await t.step("a bad option shows 400 and the server's words", async () => {
      await page.fill("#url", `${server.ws}/echo?delay=99999`);
      await page.click("#connect");
      await page.locator("#failure", { hasText: "Bad request (400)" })
        .waitFor();
      assert.match(await page.locator("#failure").innerText(), /delay/);
    });

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

browserTest(
  "the page reflows, passes axe-core and is screenshotted in three languages",
  async (t, browser, server) => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    for (const viewport of [DESKTOP, PHONE, { width: 320, height: 640 }]) {
      await t.step(`${viewport.width} px`, async () => {
        for (const lang of LANGUAGES) {
          const { page, context, problems } = await openDemo(browser, server, {
            query: `?lang=${lang}`,
            viewport,
          });
          await connectPage(page);
          await page.fill("#text", "你好, WebSocket");
          await page.press("#text", "Enter");
          await page.locator("#log li.message").waitFor();
          await page.click("#inspect");
          await page.locator("#hs-ip", { hasText: "127.0.0.1" }).waitFor();
          assert.equal(await overflows(page), false, `${lang} overflows`);
          if (viewport === PHONE) {
            // The introduction comes first; the stream starts on the first
            // screen, right under the composer, and scrolled to, it fills
            // most of the screen with the echo in view.
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
              stream && stream.height >= 0.6 * PHONE.height &&
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
          await context.close();
        }
      });
    }
  },
);

browserTest(
  "the classic tutorial page works against this server unchanged",
  async (_t, browser, server) => {
    const template = await Deno.readTextFile(
      new URL("../fixtures/classic_tutorial.html", import.meta.url),
    );
    // Shipped as the tutorial prints it; only the port is this test's.
    const classic = template.replace(
      "ws://localhost:9998/echo",
      `ws://localhost:${server.port}/echo`,
    );
    assert.notEqual(classic, template, "the page's URL was found");
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
      page.setDefaultTimeout(WAIT_MS);
      const dialogs: string[] = [];
      const closed = Promise.withResolvers<void>();
      page.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        if (dialog.message().startsWith("连接已关闭")) closed.resolve();
        dialog.accept();
      });
      await page.goto(`http://127.0.0.1:${pageServer.addr.port}/`);
      await page.click("a");
      const timeout = AbortSignal.timeout(WAIT_MS);
      await Promise.race([
        closed.promise,
        new Promise((_, reject) =>
          timeout.addEventListener("abort", () => reject(timeout.reason))
        ),
      ]);
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
      "the close-code table explains each code in all three languages",
      async () => {
        const texts = new Map<string, string[]>();
        for (const lang of LANGUAGES) {
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
        await connectPage(page);
        await page.fill("#text", "slow");
        await page.click("#send-text");
        await waitForLog(page, /JSON echo #1, text: slow/);
        const roundTrip = Number(
          await page.locator("#round-trip").textContent(),
        );
        assert.ok(
          roundTrip >= 300,
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
          roundTrip >= 300,
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

    await t.step("no console errors", () => {
      assert.deepEqual(problems, []);
    });
  },
);
