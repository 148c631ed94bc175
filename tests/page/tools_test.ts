/**
 * The demo page as a tool: the composer (multi-line, JSON, saved messages,
 * files), the stream's filter, and Export / Import / Replay of a recording,
 * in Chromium (see _browser.ts).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  axeViolations,
  browserTest,
  connectPage,
  openDemo,
  type Page,
  sendBurst,
  waitForLog,
} from "./_browser.ts";

/** The stream's entries as the reader sees them, notes left out. */
function streamRows(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll("#log li")]
    .filter((li) => !li.classList.contains("note"))
    .map((li) => [".kind", ".summary", ".size", ".time"]
      .map((s) => li.querySelector(s)?.textContent ?? "").join(" | "))`);
}

browserTest("the composer", async (t, browser, server) => {
  const { page, problems } = await openDemo(browser, server);
  await connectPage(page);
  const message = page.getByRole("textbox", { name: "Message" });

  await t.step(
    "Shift+Enter adds a line, Enter sends, and the echo keeps the newline",
    async () => {
      await message.fill("line one");
      await message.press("Shift+Enter");
      await message.pressSequentially("line two");
      assert.equal(await message.inputValue(), "line one\nline two");
      await message.press("Enter");
      // The stream shows a newline as ⏎; a space would mean it was lost.
      await page.locator("#log li.message", {
        hasText: "text: line one⏎line two",
      }).waitFor();
      await page.locator("#log li.send", {
        hasText: "text: line one⏎line two",
      }).waitFor();
    },
  );

  await t.step(
    "JSON mode refuses invalid JSON next to the field and sends nothing",
    async () => {
      await page.getByRole("radio", { name: "JSON" }).check();
      const sent = await page.locator("#log li.send").count();
      await message.fill('{"a": 1,}');
      await message.press("Enter");
      const error = page.locator("#text-error", { hasText: "Not valid JSON" });
      await error.waitFor();
      assert.equal(await message.getAttribute("aria-invalid"), "true");
      const field = await message.boundingBox();
      const said = await error.boundingBox();
      assert.ok(field && said, "both have boxes");
      assert.ok(
        said.y >= field.y + field.height &&
          said.y - (field.y + field.height) < 40,
        `error at ${said.y}, field ends at ${field.y + field.height}`,
      );
      assert.equal(await page.locator("#log li.send").count(), sent);
    },
  );

  await t.step("JSON mode pretty-prints valid JSON and sends it", async () => {
    await message.fill('{"a":[1,2]}');
    await message.press("Enter");
    assert.equal(
      await message.inputValue(),
      '{\n  "a": [\n    1,\n    2\n  ]\n}',
    );
    await page.locator("#log li.message", { hasText: 'text: {⏎  "a": [' })
      .waitFor();
    assert.equal(await page.locator("#text-error").isHidden(), true);
    await page.getByRole("radio", { name: "Text" }).check();
  });

  await t.step("a saved message survives a reload and sends", async () => {
    await message.fill("saved hello");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill(
      "greeting",
    );
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByRole("button", { name: "greeting", exact: true }).waitFor();
    await page.reload();
    const saved = page.getByRole("button", { name: "greeting", exact: true });
    await saved.waitFor();
    assert.equal(await saved.isDisabled(), true, "disabled until open");
    await connectPage(page);
    await saved.click();
    await page.locator("#log li.message", { hasText: "text: saved hello" })
      .waitFor();
  });

  await t.step("the page with saved messages passes axe-core", async () => {
    assert.deepEqual(await axeViolations(page), []);
  });

  await t.step("a saved message can be deleted", async () => {
    await page.getByRole("button", { name: "Delete “greeting”" }).click();
    await page.locator("#saved-box").waitFor({ state: "hidden" });
    await page.reload();
    assert.equal(
      await page.getByRole("button", { name: "greeting", exact: true }).count(),
      0,
    );
  });

  await t.step(
    "a file is chosen in the page's words, not the browser's",
    async () => {
      await page.selectOption("#lang", "zh-Hant");
      try {
        assert.equal(
          await page.locator("#file-name").innerText(),
          "尚未選擇檔案",
        );
        const chooser = page.waitForEvent("filechooser");
        await page.getByRole("button", {
          name: "檔案（以二進位傳送） 選擇檔案",
        })
          .click();
        await (await chooser).setFiles({
          name: "four.bin",
          mimeType: "application/octet-stream",
          buffer: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        });
        assert.equal(await page.locator("#file-name").innerText(), "four.bin");
      } finally {
        await page.selectOption("#lang", "en");
      }
    },
  );

  await t.step("the chosen file is sent as binary and echoed", async () => {
    await connectPage(page);
    await page.click("#send-file");
    await page.locator("#log li.message", { hasText: "binary: de ad be ef" })
      .waitFor();
  });

  await t.step("no console errors", () => assert.deepEqual(problems, []));
});

browserTest("the stream's filter", async (t, browser, server) => {
  const { page, problems } = await openDemo(browser, server);
  await connectPage(page);
  for (const text of ["apple 1", "banana 2", "apple 3"]) {
    await page.fill("#text", text);
    await page.press("#text", "Enter");
  }
  await page.fill("#hex", "ca fe");
  await page.click("#send-hex");
  await page.locator("#log li.message", { hasText: "binary: ca fe" }).waitFor();
  await page.locator("#log li.message", { hasText: "apple 3" }).waitFor();
  const visible = (kind = "") =>
    page.locator(`#log li${kind}:visible`).allTextContents();

  await t.step(
    "plain text shows only the matching entries and their count",
    async () => {
      await page.getByRole("searchbox", { name: "Search" }).fill("APPLE");
      await page.locator("#filter-count", { hasText: "4 matching" }).waitFor();
      const shown = await visible();
      assert.equal(shown.length, 4);
      for (const text of shown) assert.match(text, /apple [13]/);
    },
  );

  await t.step("direction and type narrow it", async () => {
    await page.selectOption("#filter-dir", "received");
    await page.locator("#filter-count", { hasText: "2 matching" }).waitFor();
    assert.equal((await visible(".message")).length, 2);
    assert.equal((await visible(".send")).length, 0);
    await page.fill("#filter-text", "");
    await page.selectOption("#filter-dir", "all");
    await page.selectOption("#filter-type", "binary");
    await page.locator("#filter-count", { hasText: "2 matching" }).waitFor();
    for (const text of await visible()) assert.match(text, /binary: ca fe/);
    await page.selectOption("#filter-type", "all");
  });

  await t.step("a regular expression matches the message text", async () => {
    await page.check("#filter-regex");
    await page.fill("#filter-text", "^(banana 2|apple 3)$");
    await page.locator("#filter-count", { hasText: "4 matching" }).waitFor();
    await page.fill("#filter-text", "(");
    await page.locator("#filter-error", { hasText: "Not a regular expression" })
      .waitFor();
  });

  await t.step(
    "entries arriving in a burst are filtered as they come, 1,000 kept",
    async () => {
      await page.uncheck("#filter-regex");
      await page.fill("#filter-text", "m11");
      await sendBurst(page, 1200);
      // The newest 1,000 entries are the echoes m200 to m1199: m11xx is 100.
      await page.locator("#filter-count", { hasText: "100 matching" })
        .waitFor();
      assert.equal((await visible()).length, 100);
      assert.equal(await page.locator("#log li").count(), 1000);
      await page.fill("#filter-text", "");
      await page.locator("#filter-count:empty").waitFor({ state: "attached" });
      assert.equal((await visible()).length, 1000);
    },
  );
  await t.step("no console errors", () => assert.deepEqual(problems, []));
});

browserTest(
  "an exported recording imports as the same stream and replays",
  async (t, browser, server) => {
    const first = await openDemo(browser, server);
    await connectPage(first.page);
    await first.page.fill("#text", "one\ntwo");
    await first.page.press("#text", "Enter");
    await first.page.fill("#hex", "de ad be ef");
    await first.page.click("#send-hex");
    await waitForLog(first.page, /binary: de ad be ef/);
    await first.page.fill("#close-code", "4000");
    await first.page.fill("#close-reason", "bye");
    await first.page.click("#close");
    await waitForLog(first.page, /code=4000/);
    const before = await streamRows(first.page);
    let file = "";

    await t.step("Export downloads the documented JSON shape", async () => {
      const [download] = await Promise.all([
        first.page.waitForEvent("download"),
        first.page.getByRole("button", { name: "Export" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^ws-echo-.*\.json$/);
      file = await Deno.readTextFile(await download.path());
      const recording = JSON.parse(file);
      assert.equal(recording.format, "ws-echo-recording");
      assert.equal(recording.version, 1);
      const entries = recording.entries;
      assert.deepEqual(
        entries.map((e: Record<string, unknown>) => e.event ?? e.direction),
        [
          "connecting",
          "open",
          "sent",
          "received",
          "sent",
          "received",
          "close",
        ],
      );
      assert.deepEqual(
        { ...entries[2], time: "" },
        {
          time: "",
          direction: "sent",
          type: "text",
          size: 7,
          data: "one\ntwo",
        },
      );
      assert.deepEqual(
        { ...entries[5], time: "" },
        {
          time: "",
          direction: "received",
          type: "binary",
          size: 4,
          data: "3q2+7w==",
        },
      );
      assert.equal(entries[6].code, 4000);
      assert.equal(entries[6].reason, "bye");
      assert.ok(!Number.isNaN(Date.parse(entries[0].time)));
      // The stream leaves the connecting event to the State panel; its count
      // says Export holds it ("6 shown of 6" hid one of 7, newcomer10).
      assert.equal(entries.length, before.length + 1);
      assert.equal(
        await first.page.locator("#stream-count").textContent(),
        `${before.length} shown of ${before.length}; +1 CONNECTING in Export`,
      );
    });
    await first.close();

    const second = await openDemo(browser, server);
    await t.step("Import turns it back into the same stream", async () => {
      await second.page.setInputFiles("#import-file", {
        name: "recording.json",
        mimeType: "application/json",
        buffer: Buffer.from(file),
      });
      await waitForLog(second.page, /Imported 7 entries from recording\.json/);
      assert.deepEqual(await streamRows(second.page), before);
    });

    await t.step(
      "Replay sends its sent messages on the open connection",
      async () => {
        await connectPage(second.page);
        const replay = second.page.getByRole("button", {
          name: "Replay 2 sent",
        });
        await replay.click();
        await second.page.locator("#log li.message", {
          hasText: "text: one⏎two",
        }).nth(1).waitFor();
        await second.page.locator("#log li.message", {
          hasText: "binary: de ad be ef",
        }).nth(1).waitFor();
      },
    );

    await t.step(
      "a file that is no recording is refused next to Import",
      async () => {
        await second.page.setInputFiles("#import-file", {
          name: "other.json",
          mimeType: "application/json",
          buffer: Buffer.from('{"entries": []}'),
        });
        await second.page.locator("#import-error", {
          hasText: "other.json is not a recording",
        }).waitFor();
      },
    );
    await t.step(
      "no console errors",
      () => assert.deepEqual(second.problems, []),
    );
  },
);

browserTest(
  "the options panel writes status=, retry_after= and /stream's options",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server);

    await t.step("/stream pushes count messages of size bytes", async () => {
      await page.selectOption("#endpoint", "/stream");
      for (const [id, value] of [["count", "3"], ["stream-size", "8"]]) {
        await page.fill(`#${id}`, value!);
        await page.locator(`#${id}`).dispatchEvent("change");
      }
      await page.fill("#interval", "0");
      await page.locator("#interval").dispatchEvent("change");
      assert.equal(
        await page.locator("#url").inputValue(),
        `${server.ws}/stream?count=3&size=8&interval=0`,
      );
      await page.click("#connect");
      await waitForLog(page, /code=1000 reason="stream complete"/);
      assert.equal(await page.locator("#log li.message").count(), 3);
      assert.match(
        await page.locator("#log li.message").first().innerText(),
        /8 B/,
      );
    });

    await t.step(
      "status= and retry_after= refuse, and the page says so",
      async () => {
        await page.selectOption("#endpoint", "/echo");
        assert.equal(await page.locator("#stream-options").isHidden(), true);
        for (const [id, value] of [["status", "503"], ["retry-after", "5"]]) {
          await page.fill(`#${id}`, value!);
          await page.locator(`#${id}`).dispatchEvent("change");
        }
        assert.equal(
          await page.locator("#url").inputValue(),
          `${server.ws}/echo?status=503&retry_after=5`,
        );
        await page.click("#connect");
        const failure = page.locator("#failure", { hasText: "(503)" });
        await failure.waitFor();
        assert.match(await failure.innerText(), /Retry-After: 5/);
      },
    );

    await t.step(
      "a status the server refuses is said next to its field",
      async () => {
        await page.fill("#status", "200");
        await page.locator("#status-error", { hasText: "400-599" }).waitFor();
        assert.equal(
          await page.locator("#status").getAttribute("aria-invalid"),
          "true",
        );
      },
    );

    await t.step("no page errors", () => {
      assert.deepEqual(
        problems.filter((text) =>
          !/^(WebSocket connection|Failed to load resource)/.test(text)
        ),
        [],
      );
    });
  },
);
