/**
 * The classic tutorial page (tests/fixtures/: its code, plus a `Goodbye` send
 * and the echo in its alert, so the test sees the echo and the server's
 * close), served unchanged, works against this server in Chromium or Chrome.
 */
import assert from "node:assert/strict";
import { browserTest, WAIT_MS } from "./_browser.ts";

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
