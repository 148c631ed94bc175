/**
 * The stream's rows in Chromium (see _browser.ts), at 390 px and 1280 px in
 * every language: each row's time sits on the row's first line, level with
 * its message, in one column; an event row (open, error, close) has no size
 * or Expand, so its words use that width instead of wrapping in the
 * message column, and neither does a burst's report. On a phone an event's
 * words wrap under its number and kind, at the row's whole width (they got
 * about 18 characters a line beside the time). The time since the entry
 * before is shown at both widths (a phone hid it): on a phone in the time's
 * place, one timing cell on the first line (under the time it made every
 * row two lines), with no word under it, so "hello 你好" and the default
 * "Hello, WebSocket" are rows of one line (in zh-Hant "12 位元組" took its
 * last column: sizes are symbols, as KiB always was); the legend names it.
 * Local time (a phone's only) puts every row's clock time in that cell
 * instead.
 */
import assert from "node:assert/strict";
import {
  browserTest,
  connectPage,
  DESKTOP,
  LANGUAGES,
  openDemo,
  type Page,
  PHONE,
} from "./_browser.ts";
import { MESSAGES } from "../../static/i18n.js";

/** The composer's own first message: two lines a row at 390 px (page5). */
const DEFAULT_TEXT = "Hello, WebSocket";
/** A message of 45 bytes (the newcomer's): it showed as "text: hello …". */
const LONGISH = "hello from a phone, a slightly longer message";

interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

interface Row {
  kind: string;
  summary: Box;
  /** The local time, where it is shown (a phone shows it on a row with no gap). */
  time: Box | undefined;
  /** The row's timing cell: the time or, on a phone, the time since. */
  timing: Box;
  size: Box;
  /** The time since the entry before, if the row has one. */
  gap: Box | undefined;
  /** Each fragment of the words. */
  fragments: Box[];
  seq: { left: number };
  /** Where the size's text ends (it may be wider than its cell), if any. */
  sizeTextRight: number | undefined;
  /** The left edge of each line of the words. */
  lineStarts: number[];
  /** Where the words' first line ends. */
  firstLineEnd: number;
  /** Whether the words run past their cell (cut with "…"). */
  cut: boolean;
  /** Whether the row has Expand. */
  expand: boolean;
  /** The words, as shown. */
  words: string;
}

/** Each row's summary, time and size cells, as the page lays them out. */
function rows(page: Page): Promise<Row[]> {
  return page.evaluate(`[...document.querySelectorAll("#log li")].map((li) => {
    const textRange = (node) => {
      const range = document.createRange();
      range.selectNodeContents(node);
      return range;
    };
    const box = (selector) => {
      const cell = li.querySelector(selector);
      if (!cell || !cell.getClientRects().length) return undefined;
      const rect = cell.getBoundingClientRect();
      return {
        top: Math.round(rect.top),
        bottom: Math.round(rect.bottom),
        left: Math.round(rect.left),
        right: Math.round(rect.right),
      };
    };
    return {
      kind: li.className.replace("entry ", ""),
      summary: box(".summary"),
      time: box(".time"),
      timing: box(".time") ?? box(".gap"),
      size: box(".size"),
      gap: li.querySelector(".gap").textContent ? box(".gap") : undefined,
      fragments: [...textRange(li.querySelector(".summary")).getClientRects()]
        .map((rect) => ({
          top: Math.round(rect.top),
          bottom: Math.round(rect.bottom),
          left: Math.round(rect.left),
          right: Math.round(rect.right),
        })),
      seq: { left: Math.round(li.querySelector(".seq").getBoundingClientRect().left) },
      sizeTextRight: li.querySelector(".size").textContent
        ? Math.round(textRange(li.querySelector(".size")).getBoundingClientRect().right)
        : undefined,
      firstLineEnd: (() => {
        const rects = [...textRange(li.querySelector(".summary")).getClientRects()];
        const top = Math.min(...rects.map((rect) => Math.round(rect.top)));
        return Math.max(...rects.filter((rect) => Math.round(rect.top) === top)
          .map((rect) => Math.round(rect.right)));
      })(),
      cut: Math.round(textRange(li.querySelector(".summary")).getBoundingClientRect().right) >
        Math.round(li.querySelector(".summary").getBoundingClientRect().right) + 1,
      expand: li.querySelector("[data-action=expand]") !== null,
      words: li.querySelector(".summary").textContent,
      // The leftmost fragment on each line (a link is a fragment of its own).
      lineStarts: Object.values(
        [...textRange(li.querySelector(".summary")).getClientRects()].reduce(
          (lines, rect) => {
            const top = Math.round(rect.top);
            lines[top] = Math.min(lines[top] ?? Infinity, Math.round(rect.left));
            return lines;
          },
          {},
        ),
      ),
    };
  })`);
}

browserTest(
  "each row's time is on its first line, and event rows use the free width",
  async (t, browser, server) => {
    for (const viewport of [PHONE, DESKTOP]) {
      for (const lang of LANGUAGES) {
        await t.step(`${lang} at ${viewport.width} px`, async () => {
          const { page, close } = await openDemo(browser, server, {
            query: `?lang=${lang}`,
            viewport,
          });
          await connectPage(page);
          await page.fill("#text", "hello 你好");
          await page.press("#text", "Enter");
          await page.locator("#log li.message").waitFor();
          await page.fill("#text", DEFAULT_TEXT);
          await page.press("#text", "Enter");
          await page.locator("#log li.message").nth(1).waitFor();
          // 45 bytes: too long for the words' column, too short for Expand.
          await page.fill("#text", LONGISH);
          await page.press("#text", "Enter");
          await page.locator("#log li.message").nth(2).waitFor();
          // The widest size: four digits and the unit ("1023 B").
          await page.fill("#text", "x".repeat(1023));
          await page.press("#text", "Enter");
          await page.locator("#log li.message").nth(3).waitFor();
          await page.fill("#burst-count", "2");
          await page.fill("#burst-size", "1");
          await page.click("#send-burst");
          await page.locator("#log li.message").nth(5).waitFor();
          await page.fill("#close-code", "4000");
          await page.fill("#close-reason", "a reason that takes some room");
          await page.click("#close");
          await page.locator("#log li.close").waitFor();
          // A refused upgrade adds the error row and a close 1006.
          await page.fill("#url", `${server.ws}/echo?status=503`);
          await page.click("#connect");
          await page.locator("#log li.close").nth(1).waitFor();

          const found = await rows(page);
          const kinds = found.map((row) => row.kind);
          for (const kind of ["open", "send", "message", "close", "error"]) {
            assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
          }
          // An event's words are in the page's language (the Chinese
          // streams said protocol="" and wasClean=true in English).
          for (
            const row of found.filter((row) => /open|close/.test(row.kind))
          ) {
            if (lang === "en") continue;
            assert.doesNotMatch(row.words, /protocol=|code=|wasClean/);
          }
          const message = found.find((row) => row.kind === "message")!;
          for (const row of found) {
            assert.ok(
              Math.abs(row.timing.top - row.summary.top) <= 1,
              `${row.kind}: time at ${row.timing.top}, words at ${row.summary.top}`,
            );
            assert.equal(
              row.timing.right,
              message.timing.right,
              `${row.kind}: the time column`,
            );
            // "1023 B" must not run into the time.
            if (row.sizeTextRight !== undefined) {
              assert.ok(
                row.sizeTextRight <= row.timing.left,
                `${row.kind}: the size ends at ${row.sizeTextRight}, the time starts at ${row.timing.left}`,
              );
            }
          }
          // Words with no Expand are read whole, at both widths.
          for (const row of found.filter((row) => !row.expand)) {
            assert.ok(!row.cut, `${row.kind} cut: ${row.words}`);
          }
          assert.ok(
            found.some((row) => row.words.endsWith(LONGISH)),
            "the 45-byte message is shown whole",
          );
          // (On a phone an event's words flow as text: checked below.)
          for (
            const row of found.filter((row) =>
              viewport === DESKTOP && !/send|message/.test(row.kind)
            )
          ) {
            // Past the messages' size column: the width nothing else uses.
            assert.ok(
              row.summary.right >= message.size.right - 1,
              `${row.kind}: words end at ${row.summary.right}, sizes at ${message.size.right}`,
            );
          }
          if (viewport === PHONE) {
            // The words' first line stops before the size and the time.
            for (const row of found) {
              const right = row.sizeTextRight === undefined
                ? row.timing.left
                : row.size.left;
              assert.ok(
                row.firstLineEnd <= Math.min(right, row.timing.left),
                `${row.kind}: words to ${row.firstLineEnd}, size or time from ${right}`,
              );
            }
            // No blank below the rows: the stream is as tall as they are, up
            // to the screen (it kept ~700 px blank below three rows).
            const blank: number = await page.evaluate(`(() => {
              const log = document.querySelector(".log");
              const rows = document.getElementById("log").offsetHeight;
              const least = parseFloat(getComputedStyle(log).minHeight);
              return log.clientHeight - Math.max(rows, least);
            })()`);
            assert.ok(blank <= 2, `${blank} px blank below the rows`);
            const events = found.filter((row) => /close|error/.test(row.kind));
            const wrapped = events.filter((row) => row.lineStarts.length > 1);
            assert.ok(wrapped.length > 0, "an event's words wrap");
            for (const row of wrapped) {
              assert.ok(
                row.lineStarts.slice(1).every((left) =>
                  left <= row.seq.left + 1
                ),
                `${row.kind}: its words' lines start at ${row.lineStarts}, the row at ${row.seq.left}`,
              );
            }
          }
          const gaps = found.filter((row) => row.gap !== undefined);
          assert.ok(
            gaps.length >= found.length - 1,
            `${gaps.length} of ${found.length} rows show the time since the entry before`,
          );
          for (const row of gaps) {
            const gap = row.gap!;
            if (viewport === DESKTOP) {
              const time = row.time!;
              assert.ok(
                Math.abs(gap.top - time.top) <= 1 &&
                  gap.left >= time.right,
                `${row.kind}: the gap at ${
                  JSON.stringify(gap)
                } beside the time`,
              );
              continue;
            }
            // One timing cell: the time since, in the time's place on the
            // first line (the time with the time since under it made every
            // row two lines: newcomer7).
            assert.equal(
              row.time,
              undefined,
              `${row.kind}: the time shown too`,
            );
            assert.deepEqual(row.timing, gap, `${row.kind}: the timing cell`);
            const under = row.fragments.filter((words) =>
              words.top < gap.bottom && words.bottom > gap.top &&
              words.right > gap.left
            );
            assert.deepEqual(under, [], `${row.kind}: words under the gap`);
          }
          if (viewport === PHONE) {
            for (const text of ["hello 你好", DEFAULT_TEXT]) {
              const short = found.filter((row) =>
                /send|message/.test(row.kind) && row.words.endsWith(text)
              );
              assert.equal(short.length, 2, `${short.map((row) => row.words)}`);
              for (const row of short) {
                assert.equal(
                  row.lineStarts.length,
                  1,
                  `${row.kind} "${text}" takes ${row.lineStarts.length} lines`,
                );
              }
            }
          }
          const gapWords = MESSAGES[lang]!["stream.legendGap"]!.replace(
            " · ",
            "",
          );
          assert.ok(
            (await page.locator("#stream-legend").innerText()).includes(
              gapWords,
            ),
            `the legend names "${gapWords}"`,
          );
          // The burst's report is read whole, not cut at the Expand column.
          const burst = page.locator("#log li.send", {
            hasText: "bufferedAmount",
          }).locator(".summary");
          assert.ok(
            await burst.evaluate((cell) =>
              cell.scrollWidth <= cell.clientWidth
            ),
            `the burst's words are cut: ${await burst.textContent()}`,
          );
          // On a phone Local time puts every row's clock time in the timing
          // cell (only the first entry had one: page4), on the first line.
          const toggle = page.locator("#clock-toggle");
          assert.equal(await toggle.isVisible(), viewport === PHONE);
          if (viewport === PHONE) {
            await toggle.click();
            assert.equal(await toggle.getAttribute("aria-pressed"), "true");
            for (const row of await rows(page)) {
              assert.ok(row.time, `${row.kind}: no local time`);
              assert.equal(row.gap, undefined, `${row.kind}: the gap too`);
              assert.ok(
                Math.abs(row.time.top - row.summary!.top) <= 1,
                `${row.kind}: time at ${row.time.top}, words at ${
                  row.summary!.top
                }`,
              );
              // To the second, so the default message keeps one line too
              // (with milliseconds, 12ch, it took two).
              if (
                row.words.endsWith("hello 你好") ||
                row.words.endsWith(DEFAULT_TEXT)
              ) {
                assert.equal(row.lineStarts.length, 1, `${row.kind} wraps`);
              }
            }
            assert.ok(
              !(await page.locator("#stream-legend").innerText()).includes(
                gapWords,
              ),
              "the legend still names the gap",
            );
            await toggle.click();
            assert.equal((await rows(page))[1]!.time, undefined);
          }
          await close();
        });
      }
    }
  },
);
