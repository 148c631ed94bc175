/**
 * The kit of the browser tests: Chromium (found by bench/browser.ts) driven
 * by playwright-core, the demo page opened with its console watched, and
 * {@linkcode browserTest}, which gives each test its own server and browser.
 * Without a browser the tests are reported as ignored, and fail under
 * CI=true.
 *
 * @module
 */
import axe from "axe-core";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "../../bench/browser.ts";
import { enterBurst, lastEchoShown } from "../../bench/demo_page.ts";
import { startTestServer, type TestServer } from "../_server.ts";

export type { Browser, Page, TestServer };

const BROWSER = findBrowser();
const IN_CI = Deno.env.get("CI") === "true";
if (!BROWSER && !IN_CI) {
  console.warn(`Browser tests ignored: ${NO_BROWSER_MESSAGE}`);
}

export const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);
/**
 * Every playwright wait in these tests ends by then, in ms: generous, since
 * Chromium on a busy 2-core machine can take over 10 s to lay out a page.
 */
export const WAIT_MS = 30_000;
export const LANGUAGES = ["en", "zh-Hant", "zh-Hans"] as const;
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export async function launch(): Promise<Browser> {
  if (!BROWSER) {
    throw new Error(
      `Browser tests must run under CI=true: ${NO_BROWSER_MESSAGE}`,
    );
  }
  return await chromium.launch({
    executablePath: BROWSER,
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

export interface Demo {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions. */
  problems: string[];
  dialogs: string[];
}

/** Opens the demo page and records console errors, page errors and dialogs. */
export async function openDemo(
  browser: Browser,
  server: TestServer,
  options: {
    locale?: string;
    query?: string;
    viewport?: { width: number; height: number };
  } = {},
): Promise<Demo> {
  const context = await browser.newContext({
    locale: options.locale ?? "en-US",
    viewport: options.viewport ?? DESKTOP,
  });
  context.setDefaultTimeout(WAIT_MS);
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
  await page.goto(`${server.http}/${options.query ?? ""}`);
  return { page, context, problems, dialogs };
}

export async function waitForLog(page: Page, pattern: RegExp) {
  await page.locator("#log li", { hasText: pattern }).first().waitFor();
}

/**
 * Sends "m0" to "m<count - 1>" with Enter in one task (a burst) and waits
 * until the last one's echo is in the stream.
 */
export async function sendBurst(page: Page, count: number): Promise<void> {
  await enterBurst(page, count);
  await lastEchoShown(page, count);
}

export async function connectPage(page: Page) {
  await page.click("#connect");
  await page.locator("#ready-state", { hasText: "1 OPEN" }).waitFor();
}

/**
 * Waits until the page code `expression` is true, checked every animation
 * frame in the page, for at most {@linkcode WAIT_MS}; fails naming `what`.
 * (playwright's waitForFunction compiles its predicate with `new Function`
 * when it polls, which the page's CSP refuses: it works only when the
 * predicate is true at once.)
 */
export async function waitUntil(
  page: Page,
  expression: string,
  what: string,
): Promise<void> {
  const met = await page.evaluate(`new Promise((resolve) => {
    const end = performance.now() + ${WAIT_MS};
    const check = () => {
      if (${expression}) resolve(true);
      else if (performance.now() > end) resolve(false);
      else requestAnimationFrame(check);
    };
    check();
  })`);
  if (!met) {
    throw new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`);
  }
}

/** True when the page scrolls sideways. */
export function overflows(page: Page): Promise<boolean> {
  // Page code as strings: these tests are type-checked without the DOM library.
  return page.evaluate(
    "document.documentElement.scrollWidth > document.documentElement.clientWidth",
  );
}

/**
 * A test with its own server and Chromium, both closed afterwards. The
 * sanitizers are off: playwright-core keeps its own pipes and timers open.
 */
export function browserTest(
  name: string,
  fn: (
    t: Deno.TestContext,
    browser: Browser,
    server: TestServer,
  ) => Promise<void>,
  env: Record<string, string> = {},
) {
  Deno.test({
    name,
    ignore: !BROWSER && !IN_CI,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      await using server = startTestServer(env);
      const browser = await launch();
      try {
        await fn(t, browser, server);
      } finally {
        await browser.close();
      }
    },
  });
}

/** axe-core's violations on the page, as "rule: targets" lines. */
export async function axeViolations(page: Page): Promise<string[]> {
  // The page's CSP allows no inline script: evaluate, not addScriptTag.
  await page.evaluate(axe.source);
  return await page.evaluate(async () => {
    // deno-lint-ignore no-explicit-any
    const result = await (globalThis as any).axe.run();
    return result.violations.map((
      v: { id: string; nodes: { target: string[] }[] },
    ) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
}
