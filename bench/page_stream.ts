/**
 * Measures the demo page's message stream in Chromium: N texts sent with
 * Enter in one task, and the time until the last echo is on screen, with
 * the stream capped at 1,000 entries (issue 14: 10,000 echoes took 114 s).
 * The rate limits are off, so only the page is measured.
 *
 * With a FILTER, the stream's search field holds it during the burst, so
 * each entry is also matched as it arrives (the last echo must match it).
 *
 * Usage: `deno run -A bench/page_stream.ts [N=10000] [FILTER]`
 */
import { chromium } from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "./browser.ts";
import { enterBurst, lastEchoShown } from "./demo_page.ts";
import { startService } from "./service.ts";

const count = Number(Deno.args[0] ?? 10000);
const filter = Deno.args[1];
const executablePath = findBrowser();
if (!executablePath) throw new Error(`Cannot run: ${NO_BROWSER_MESSAGE}`);

await using server = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  RATE_LIMIT_BYTES_PER_SECOND: "0",
});
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 900 },
  });
  page.setDefaultTimeout(300_000);
  await page.goto(`http://127.0.0.1:${server.port}/?lang=en`);
  await page.click("#connect");
  await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
  if (filter) await page.fill("#filter-text", filter);
  const started = performance.now();
  await enterBurst(page, count);
  const sent = performance.now();
  await lastEchoShown(page, count);
  const shown = performance.now();
  const frame = await page.evaluate<number>(`new Promise((resolve) => {
    const start = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - start)));
  })`);
  console.log(
    `${count} sends and ${count} echoes${
      filter ? ` (filter "${filter}")` : ""
    }: sent in ${Math.round(sent - started)} ms, ` +
      `last echo shown after ${Math.round(shown - started)} ms ` +
      `(${((shown - started) / count).toFixed(2)} ms per echo); ` +
      `${await page.locator("#log li")
        .count()} entries kept; two frames then took ${Math.round(frame)} ms`,
  );
} finally {
  await browser.close();
}
