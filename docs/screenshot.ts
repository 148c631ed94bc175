/**
 * Makes the pictures of the demo page, with the service as `deno task start`
 * runs it and Chromium, in English:
 *
 * - docs/screenshot.png, the README's: 1280 x 900, one whole successful
 *   session, the first thing a newcomer sees of the tool: Connect, a text, a
 *   multi-line text, a JSON message saved as "greeting", four binary bytes,
 *   then Send "Goodbye", which the server echoes and closes with 1000.
 * - docs/screenshot-failure.png, docs/page.md's: 390 x 844, the first screen
 *   right after Connect to a mistyped path (`/ech0`), with the box that says
 *   why in words under the stream's header, which the first picture cannot
 *   show.
 *
 * The browser reaches the service as `http://localhost:9998/`, the address
 * the README's quick start gives (Chromium maps that name and port to the
 * service's free port), so the pictures show the URL a newcomer will type.
 *
 * Run it again whenever the page's look changes:
 *
 * `deno run -A docs/screenshot.ts`
 *
 * @module
 */
import { chromium } from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "../bench/browser.ts";
import { startService } from "../bench/service.ts";

/** Every wait ends by then, in ms, as in the browser tests. */
const WAIT_MS = 30_000;
const OUTPUT = new URL("./screenshot.png", import.meta.url);
const FAILURE_OUTPUT = new URL("./screenshot-failure.png", import.meta.url);

const executablePath = findBrowser();
if (!executablePath) throw new Error(`Cannot run: ${NO_BROWSER_MESSAGE}`);

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
});
/** The README's address; the browser maps it to the service's port. */
const SHOWN_HOST = "localhost:9998";
const origin = `http://${SHOWN_HOST}`;
const browser = await chromium.launch({
  executablePath,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    `--host-resolver-rules=MAP ${SHOWN_HOST} 127.0.0.1:${service.port}`,
  ],
});
try {
  const context = await browser.newContext({
    locale: "en-US",
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  await page.goto(`${origin}/?lang=en`);
  const connect = async () => {
    await page.click("#connect");
    await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
  };
  await page.fill("#url", `ws://${SHOWN_HOST}/echo`);
  await connect();
  await page.fill("#text", "hello");
  await page.press("#text", "Enter");
  await page.fill("#text", "line one");
  await page.press("#text", "Shift+Enter");
  await page.locator("#text").pressSequentially("line two");
  await page.press("#text", "Enter");
  await page.check("#mode-json");
  await page.fill("#text", '{"hello": "world"}');
  await page.press("#text", "Enter");
  await page.fill("#save-name", "greeting");
  await page.click("#save");
  await page.fill("#hex", "de ad be ef");
  await page.click("#send-hex");
  await page.locator("#log li.message", { hasText: "binary: " }).waitFor();
  await page.click("#send-goodbye");
  await page.locator("#log li.close", { hasText: "1000" }).waitFor();
  await page.evaluate("scrollTo(0, 0)");
  await page.screenshot({ path: OUTPUT.pathname });
  console.log(`Wrote ${OUTPUT.pathname}`);
  await context.close();

  const phone = await browser.newContext({
    locale: "en-US",
    viewport: { width: 390, height: 844 },
  });
  phone.setDefaultTimeout(WAIT_MS);
  const failed = await phone.newPage();
  const mistyped = `ws://${SHOWN_HOST}/ech0`;
  await failed.goto(`${origin}/?lang=en&url=${encodeURIComponent(mistyped)}`);
  await failed.click("#connect");
  await failed.locator("#failure-detail", { hasText: "404" }).waitFor();
  await failed.locator("#log li.close").waitFor();
  await failed.screenshot({ path: FAILURE_OUTPUT.pathname });
  console.log(`Wrote ${FAILURE_OUTPUT.pathname}`);
} finally {
  await browser.close();
}
