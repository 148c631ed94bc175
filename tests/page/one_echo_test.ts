/**
 * What the demo page says and draws for one, in Chromium (see _browser.ts):
 * one echo is a point on the round-trip chart (a line needs two, and the
 * points were hidden, so it drew nothing), "1 echo" and "1 message per
 * second" (a 100 ms sample scaled to a second said 10); a connection that
 * never opened is said so under the flow chart (it said "Not connected
 * yet."); and an imported recording of a year ago keeps its gap in the
 * gap column ("+487,643 min" ran out of it) and says "1 sent message".
 * The flow chart's words give the State panel's bufferedAmount peak (after
 * small sends the panel said 16 B and the chart 0 B: it kept the value at
 * each 100 ms point, and a small send is gone by then).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  type Page,
  waitUntil,
} from "./_browser.ts";
import { MESSAGES } from "../../static/i18n.js";

/**
 * Page code: the pixels of the round-trip chart's canvas in the series'
 * colour (the page's --accent), what uPlot drew of the series (axes and
 * grid are other colours).
 */
const SERIES_PIXELS = `(() => {
  const canvas = document.querySelector("#rtt-chart canvas");
  const probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = getComputedStyle(document.documentElement)
    .getPropertyValue("--accent").trim();
  probe.fillRect(0, 0, 1, 1);
  const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
  const { data } = canvas.getContext("2d")
    .getImageData(0, 0, canvas.width, canvas.height);
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    const near = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) +
      Math.abs(data[i + 2] - b);
    if (data[i + 3] > 200 && near < 60) count++;
  }
  return count;
})()`;

const seriesPixels = (page: Page): Promise<number> =>
  page.evaluate(SERIES_PIXELS);

browserTest(
  "one echo is drawn and counted as one",
  async (t, browser, server) => {
    const { page, close, problems } = await openDemo(browser, server);
    await connectPage(page);
    await t.step("no echo: nothing of the series is drawn", async () => {
      await page.locator("#rtt-summary", { hasText: "No echo yet." }).waitFor();
      assert.equal(await seriesPixels(page), 0);
    });
    await page.fill("#text", "hello");
    await page.click("#send-text");
    await t.step("its round trip is a point", async () => {
      await page.locator("#rtt-summary", { hasText: /^1 echo: / }).waitFor();
      await waitUntil(page, `${SERIES_PIXELS} > 0`, "a point drawn");
    });
    await t.step("the flow's words say 1 message per second", async () => {
      await page.locator("#flow-summary", {
        hasText: "at most 1 message per second.",
      }).waitFor();
      assert.doesNotMatch(
        await page.locator("#flow-summary").innerText(),
        /at most ([02-9]|1\d)/,
      );
    });
    await t.step(
      "the flow's words give the State panel's bufferedAmount peak",
      async () => {
        // send() puts the 5 bytes in bufferedAmount until the browser has
        // passed them on, well within the chart's 100 ms between points.
        const peak = page.locator("#buffered-peak");
        assert.notEqual(await peak.getAttribute("data-bytes"), "0");
        const shown = await peak.innerText();
        const words = await page.locator("#flow-summary").innerText();
        assert.ok(
          words.includes(`peaked at ${shown} `),
          `the chart: "${words}"; the State panel: peak ${shown}`,
        );
      },
    );
    assert.deepEqual(problems, []);
    await close();
  },
);

browserTest(
  "the flow chart says a connection that never opened never opened",
  async (t, browser, server) => {
    for (const lang of LANGUAGES) {
      await t.step(lang, async () => {
        const url = `${server.ws}/echo?status=503`;
        const { page, close } = await openDemo(browser, server, {
          query: `?lang=${lang}&url=${encodeURIComponent(url)}`,
        });
        const words = MESSAGES[lang]!;
        assert.equal(
          await page.locator("#flow-summary").innerText(),
          words["chart.flowEmpty"],
        );
        await page.click("#connect");
        await page.locator("#log li.close").waitFor();
        await page.locator("#flow-summary", {
          hasText: words["chart.flowNeverOpened"]!,
        }).waitFor();
        await close();
      });
    }
  },
);

/** A recording of one sent "hello", made on 2 January 2026. */
const OLD_RECORDING = JSON.stringify({
  format: "ws-echo-recording",
  version: 1,
  exportedAt: "2026-01-02T03:04:05.678Z",
  entries: [
    {
      time: "2026-01-02T03:04:01.000Z",
      event: "connecting",
      url: "ws://localhost:9998/echo",
      protocols: [],
    },
    { time: "2026-01-02T03:04:01.004Z", event: "open", protocol: "" },
    {
      time: "2026-01-02T03:04:02.000Z",
      direction: "sent",
      type: "text",
      size: 5,
      data: "hello",
    },
  ],
});

browserTest(
  "an old recording's note keeps its gap in the column and counts 1 sent message",
  async (t, browser, server) => {
    for (const lang of LANGUAGES) {
      await t.step(lang, async () => {
        const { page, close } = await openDemo(browser, server, {
          query: `?lang=${lang}`,
          viewport: DESKTOP,
        });
        await page.setInputFiles("#import-file", {
          name: "old.json",
          mimeType: "application/json",
          buffer: Buffer.from(OLD_RECORDING),
        });
        const note = page.locator("#log li.note");
        await note.waitFor();
        if (lang === "en") {
          assert.match(
            await note.locator(".summary").innerText(),
            /^Imported 3 entries from old\.json; Replay sends its 1 sent message on/,
          );
        }
        const gap = note.locator(".gap");
        assert.match(await gap.innerText(), /^\+\d[\d,]* (d|天)$/);
        const fits: { cut: boolean; right: number; logRight: number } =
          await page.evaluate(`(() => {
            const cell = document.querySelector("#log li.note .gap");
            const text = document.createRange();
            text.selectNodeContents(cell);
            return {
              cut: cell.scrollWidth > cell.clientWidth,
              right: text.getBoundingClientRect().right,
              logRight: cell.closest(".log").getBoundingClientRect().right,
            };
          })()`);
        assert.ok(
          !fits.cut && fits.right <= fits.logRight,
          `the gap ${JSON.stringify(fits)}`,
        );
        await close();
      });
    }
  },
);
