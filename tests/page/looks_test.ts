/**
 * What used to look broken on the demo page, in Chromium (see _browser.ts):
 * clipped chart labels, raw byte counts, moving columns, a failure box that
 * pushed the controls, untranslated code comments, a URL that was no link,
 * silence about ports browsers refuse, and a delay field that disagreed
 * with the URL.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  connectPage,
  DESKTOP,
  openDemo,
  type Page,
  PHONE,
} from "./_browser.ts";

/** Byte counts in `text` (a number before a byte unit) of five or more digits. */
function rawByteCounts(text: string): string[] {
  return [...text.matchAll(/(\d[\d,.]*)\s*(B|bytes|位元組|字节)(?![\w/])/g)]
    .map((match) => match[0])
    .filter((count) => count.replace(/\D/g, "").length > 4);
}

/** Pixels drawn in the outermost two columns of a chart's canvas, each side. */
function edgePixels(page: Page, chart: string): Promise<number[]> {
  return page.evaluate(`(() => {
    const canvas = document.querySelector("${chart} canvas");
    const context = canvas.getContext("2d");
    const count = (x) => {
      const data = context.getImageData(x, 0, 2, canvas.height).data;
      let drawn = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn++;
      return drawn;
    };
    return [count(0), count(canvas.width - 2)];
  })()`);
}

browserTest(
  "numbers fit: chart labels inside the chart at 390 px, no raw byte counts",
  async (t, browser, server) => {
    const { page, problems } = await openDemo(browser, server, {
      viewport: PHONE,
    });
    await connectPage(page);
    await page.click("#send-burst");
    await page.locator("#log li.message", { hasText: "64 KiB" }).nth(31)
      .waitFor();
    await page.fill("#random-size", "200000");
    await page.click("#send-random");
    await page.locator("#log li.message", { hasText: "195 KiB" }).waitFor();
    await page.click("#inspect");
    await page.locator("#hs-limits tr").first().waitFor();
    await page.locator("#flow-summary", { hasText: "peaked at" }).waitFor();
    await page.locator("#rtt-summary", { hasText: /\d+ echoes/ }).waitFor();

    await t.step("no label reaches past a chart's edges", async () => {
      for (const chart of ["#rtt-chart", "#flow-chart"]) {
        assert.deepEqual(await edgePixels(page, chart), [0, 0], chart);
      }
    });

    for (const lang of ["en", "zh-Hant", "zh-Hans"]) {
      await t.step(`${lang}: no byte count longer than 4 digits`, async () => {
        await page.selectOption("#lang", lang);
        const text = await page.locator("body").innerText();
        assert.deepEqual(rawByteCounts(text), []);
        assert.match(
          await page.locator("#hs-limits").innerText(),
          /MAX_MESSAGE_BYTES\s+1 MiB/,
        );
        assert.deepEqual(await edgePixels(page, "#flow-chart"), [0, 0]);
      });
    }
    await t.step("no console errors", () => assert.deepEqual(problems, []));
  },
);

browserTest(
  "rows line up, and the code's comments are in the page's language",
  async (t, browser, server) => {
    const { page } = await openDemo(browser, server);
    await connectPage(page);
    for (const hex of ["01", "00 ".repeat(16), "00 ".repeat(17)]) {
      await page.fill("#hex", hex);
      await page.click("#send-hex");
    }
    await page.fill("#text", "x".repeat(300));
    await page.press("#text", "Enter");
    await page.locator("#log li.message", { hasText: "xxx" }).waitFor();
    await page.locator("#log li.message").nth(3).waitFor();

    await t.step(
      "size and time start at the same x on every message row",
      async () => {
        for (const cell of ["size", "time"]) {
          const lefts = await page.evaluate<number[]>(
            `[...document.querySelectorAll("#log li.send .${cell}, #log li.message .${cell}")]
            .map((cell) => Math.round(cell.getBoundingClientRect().left))`,
          );
          assert.equal(lefts.length, 8);
          assert.equal(new Set(lefts).size, 1, `${cell} columns at ${lefts}`);
        }
      },
    );

    await t.step(
      "zh-Hant and zh-Hans comment the code in Chinese",
      async () => {
        // Goodbye is sent in the language before; switching writes the
        // code's comments again (they stayed in the language of the moment).
        for (
          const [lang, words, before] of [
            ["zh-Hant", "回傳後", /echoed/],
            ["zh-Hans", "回显后", /回傳後/],
          ] as const
        ) {
          await page.click("#send-goodbye");
          await page.selectOption("#lang", lang);
          await page.locator("#code", { hasText: words }).waitFor();
          assert.doesNotMatch(await page.locator("#code").innerText(), before);
          await connectPage(page);
        }
      },
    );
  },
);

browserTest(
  "failures are explained without moving the controls",
  async (t, browser, server) => {
    for (const viewport of [DESKTOP, PHONE]) {
      const { page, close } = await openDemo(browser, server, { viewport });
      await t.step(
        `${viewport.width} px: the send controls stay put`,
        async () => {
          const before = await page.locator("#send-text").boundingBox();
          await page.fill("#url", `${server.ws}/nope`);
          await page.click("#connect");
          await page.locator("#failure", { hasText: "404" }).waitFor();
          assert.deepEqual(
            await page.locator("#send-text").boundingBox(),
            before,
          );
        },
      );
      await t.step(
        `${viewport.width} px: a bad option's line is said once`,
        async () => {
          await page.fill("#url", `${server.ws}/echo?delay=abc`);
          await page.click("#connect");
          await page.locator("#failure", { hasText: "Bad request (400)" })
            .waitFor();
          // In view the option is named once, in the page's words; the
          // server's own line is folded, once, with its list (ebf53bc).
          const seen = await page.locator("#failure-detail").innerText();
          assert.equal(seen.split("delay=abc").length - 1, 1, seen);
          const words = await page.locator("#failure-body").textContent();
          assert.equal(words!.split("Invalid option").length - 1, 1, words!);
          assert.match(words!, /Options:/);
        },
      );
      await close();
    }
  },
);

browserTest(
  "a port nothing answers on, and one browsers refuse, are told apart",
  async (t, browser, server) => {
    const { page } = await openDemo(browser, server);

    await t.step(
      "another origin's URL is a link to open in a new tab",
      async () => {
        // A port that was just free on another loopback address: nothing answers.
        const listener = Deno.listen({ hostname: "127.0.0.2", port: 0 });
        const port = (listener.addr as Deno.NetAddr).port;
        listener.close();
        await page.fill("#url", `ws://127.0.0.2:${port}/echo`);
        await page.click("#connect");
        const link = page.locator("#failure-detail a", {
          hasText: `http://127.0.0.2:${port}/echo`,
        });
        await link.waitFor();
        assert.equal(
          await link.getAttribute("href"),
          `http://127.0.0.2:${port}/echo`,
        );
        assert.equal(await link.getAttribute("target"), "_blank");
      },
    );

    await t.step("port 9 is named as a port browsers refuse", async () => {
      await page.fill("#url", "ws://127.0.0.1:9/echo");
      await page.click("#connect");
      await page.locator("#failure", { hasText: "ERR_UNSAFE_PORT" }).waitFor();
      assert.match(
        await page.locator("#failure-detail").innerText(),
        /refuse to connect to port 9 /,
      );
    });
  },
);

browserTest(
  "the delay field and the URL always agree",
  async (t, browser, server) => {
    await t.step("a shared URL with delay=abc shows abc and why", async () => {
      const url = `${server.ws}/echo?delay=abc`;
      const { page, close } = await openDemo(browser, server, {
        query: `?url=${encodeURIComponent(url)}`,
      });
      assert.equal(await page.locator("#delay").inputValue(), "abc");
      await page.locator("#delay-error", { hasText: "“abc”" }).waitFor();
      await close();
    });

    await t.step(
      "99999 typed stays 99999 in both as it is typed, with the limit said",
      async () => {
        const { page, close } = await openDemo(browser, server);
        // No change event: the hint says "The URL says the same" while the
        // field still has the focus (newcomer7: the URL changed on Tab).
        await page.fill("#delay", "99999");
        assert.equal(
          await page.evaluate("document.activeElement.id"),
          "delay",
        );
        assert.equal(
          await page.locator("#url").inputValue(),
          `${server.ws}/echo?delay=99999`,
        );
        await page.locator("#delay-error", { hasText: "0-10000" }).waitFor();
        assert.equal(new URL(page.url()).searchParams.get("delay"), "99999");
        await page.fill("#delay", "250");
        assert.equal(
          await page.locator("#url").inputValue(),
          `${server.ws}/echo?delay=250`,
        );
        assert.equal(await page.locator("#delay-error").isHidden(), true);
        await close();
      },
    );
  },
);

browserTest(
  "at 390 px and 1280 px the close fields line up and Name with Save stays on the Send row; at 320 px Name fills its own row",
  async (t, browser, server) => {
    for (const viewport of [PHONE, DESKTOP]) {
      await t.step(`${viewport.width} px`, async () => {
        const { page, close } = await openDemo(browser, server, {
          viewport,
        });
        const box = async (selector: string) => {
          const found = await page.locator(selector).boundingBox();
          assert.ok(found, `${selector} is shown`);
          return found;
        };
        // The reason's byte counter sits beside its label, not under the
        // field, so the code and reason fields start on one line.
        const code = await box("#close-code");
        const reason = await box("#close-reason");
        assert.ok(
          Math.abs(code.y - reason.y) < 2,
          `code at ${code.y}, reason at ${reason.y}`,
        );
        const send = await box("#send-text");
        for (const selector of ["#save-name", "#save"]) {
          const other = await box(selector);
          assert.ok(
            other.y < send.y + send.height && send.y < other.y + other.height,
            `${selector} at ${other.y} is beside Send at ${send.y}`,
          );
        }
        // Save keeps its word on one line.
        const save = await box("#save");
        assert.ok(
          save.height < 1.5 * send.height,
          `Save is ${save.height} tall`,
        );
        await close();
      });
    }
    await t.step(
      "320 px: Name, on a row of its own, starts at the row's left",
      async () => {
        const { page, close } = await openDemo(browser, server, {
          viewport: { width: 320, height: 640 },
        });
        const send = await page.locator("#send-text").boundingBox();
        const name = await page.locator("#save-name").boundingBox();
        const save = await page.locator("#save").boundingBox();
        assert.ok(send && name && save, "Send, Name and Save are shown");
        assert.ok(name.y >= send.y + send.height, "Name is on the next row");
        // It was right-aligned at most 12rem wide: a 24 px blank before it.
        assert.ok(
          Math.abs(name.x - send.x) <= 1,
          `Name starts at ${name.x}, Send at ${send.x}`,
        );
        assert.ok(Math.abs(name.y - save.y) < 2, "Save stays beside Name");
        await close();
      },
    );
  },
);

browserTest(
  "the Goodbye hint keeps a close code's name and number on one line in Chinese",
  async (t, browser, server) => {
    // CJK text breaks between any two characters: at 1280 px zh-Hans broke
    // "关闭码" as "以关闭 / 码 1000".
    const terms: [string, string][] = [
      ["zh-Hans", "关闭码 1000"],
      ["zh-Hant", "代碼 1000"],
    ];
    for (const [lang, term] of terms) {
      for (const viewport of [DESKTOP, PHONE]) {
        await t.step(`${lang}, ${viewport.width} px: "${term}"`, async () => {
          const { page, close } = await openDemo(browser, server, {
            viewport,
            query: `?lang=${lang}`,
          });
          const tops: number[] = await page.evaluate(`(() => {
            const text = document.getElementById("goodbye-hint").firstChild;
            const plain = [...text.data].map((c) =>
              c === "\\u2060" ? "" : c === "\\u00a0" ? " " : c
            );
            // Index in the shown text of each character of the plain text.
            const at = [];
            [...text.data].forEach((c, i) => { if (c !== "\\u2060") at.push(i); });
            const start = plain.join("").indexOf(${JSON.stringify(term)});
            if (start < 0) return [];
            const range = document.createRange();
            range.setStart(text, at[start]);
            range.setEnd(text, at[start + ${term.length} - 1] + 1);
            return [...range.getClientRects()].map((rect) => Math.round(rect.top));
          })()`);
          assert.ok(tops.length > 0, `the hint names "${term}"`);
          assert.equal(new Set(tops).size, 1, `"${term}" on lines at ${tops}`);
          await close();
        });
      }
    }
  },
);
