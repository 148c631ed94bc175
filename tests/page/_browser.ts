/**
 * The kit of the browser tests: Chromium (found by bench/browser.ts) driven
 * by playwright-core, the demo page opened with its console watched, and
 * {@linkcode browserTest}, which gives each test its own server and the
 * file's tests one browser.
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
  type ConsoleMessage,
  type Dialog,
  type Page,
} from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "../../bench/browser.ts";
import { enterBurst, lastEchoShown } from "../../bench/demo_page.ts";
import { startTestServer, type TestServer } from "../_server.ts";
import { withDeadline } from "../_client.ts";

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
  /**
   * Ends this demo: the page is left (its connections close) and, when it is
   * the browser's lent page, its storage is cleared for the next
   * {@linkcode openDemo}; a page of its own is closed with its context.
   * {@linkcode browserTest} ends what its test left open.
   */
  close(): Promise<void>;
}

const DEFAULT_LOCALE = "en-US";

/**
 * The page each browser lends to {@linkcode openDemo} at the default locale,
 * and whether a demo holds it. A fresh context and page cost a new renderer
 * process: 2-4 s on a busy 2-core machine, where navigating a page already
 * open took about 1 s.
 */
const lentPages = new WeakMap<
  Browser,
  { context: BrowserContext; page: Page; held: boolean }
>();
/** Each browser's demos not closed yet. */
const openDemos = new WeakMap<Browser, Set<Demo>>();

async function newDemoContext(
  browser: Browser,
  locale: string,
  viewport: { width: number; height: number },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale, viewport });
  context.setDefaultTimeout(WAIT_MS);
  return { context, page: await context.newPage() };
}

/** The browser's lent page if no demo holds it, now held; else undefined. */
async function borrowPage(browser: Browser) {
  const lent = lentPages.get(browser);
  if (lent && !lent.page.isClosed()) {
    if (lent.held) return undefined;
    lent.held = true;
    return lent;
  }
  const fresh = {
    ...await newDemoContext(browser, DEFAULT_LOCALE, DESKTOP),
    held: true,
  };
  lentPages.set(browser, fresh);
  return fresh;
}

/**
 * Opens the demo page and records console errors, page errors and dialogs.
 * At the default locale it borrows the browser's one page (blank, its
 * storage cleared, resized to `viewport`) when no other demo holds it;
 * otherwise the demo gets a context of its own.
 */
export async function openDemo(
  browser: Browser,
  server: TestServer,
  options: {
    locale?: string;
    query?: string;
    viewport?: { width: number; height: number };
  } = {},
): Promise<Demo> {
  const locale = options.locale ?? DEFAULT_LOCALE;
  const viewport = options.viewport ?? DESKTOP;
  const lent = locale === DEFAULT_LOCALE
    ? await borrowPage(browser)
    : undefined;
  const { context, page } = lent ??
    await newDemoContext(browser, locale, viewport);
  const size = page.viewportSize();
  if (
    lent && (size?.width !== viewport.width || size.height !== viewport.height)
  ) {
    await page.setViewportSize(viewport);
  }
  const problems: string[] = [];
  const dialogs: string[] = [];
  const onConsole = (message: ConsoleMessage) => {
    if (message.type() === "error") problems.push(message.text());
  };
  const onError = (error: Error) => problems.push(error.message);
  const onDialog = (dialog: Dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss();
  };
  page.on("console", onConsole);
  page.on("pageerror", onError);
  page.on("dialog", onDialog);
  const demos = openDemos.get(browser) ?? new Set();
  openDemos.set(browser, demos);
  const demo: Demo = {
    page,
    context,
    problems,
    dialogs,
    async close() {
      if (!demos.delete(demo)) return;
      if (!lent) return await context.close();
      page.off("console", onConsole);
      page.off("pageerror", onError);
      page.off("dialog", onDialog);
      try {
        // Leaving the page closes its WebSockets and timers; what it stored
        // (language, saved messages) must not reach the next demo.
        // (A page whose main thread never yields would hold an evaluate
        // for ever: bounded, then the context goes.)
        if (page.url().startsWith(server.http)) {
          await withDeadline(
            page.evaluate("localStorage.clear(); sessionStorage.clear()"),
            WAIT_MS,
            "the demo page to clear its storage",
          );
        }
        await page.goto("about:blank");
        lent.held = false;
      } catch (error) {
        lentPages.delete(browser);
        await context.close().catch(() => {});
        throw error;
      }
    },
  };
  demos.add(demo);
  await page.goto(`${server.http}/${options.query ?? ""}`);
  return demo;
}

/**
 * Closes the demos a test left open; the lent page goes too when it could
 * not be cleared (the next demo gets a fresh one).
 */
async function closeDemos(browser: Browser) {
  for (const demo of openDemos.get(browser) ?? []) {
    await demo.close().catch(() => {});
  }
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

/** The Chromium this file's browser tests share, launched by the first. */
let sharedBrowser: Promise<Browser> | undefined;
/** This file's browser tests that have not ended yet. */
let unfinished = 0;

/**
 * The file's Chromium, launched again when it was lost. Launching and
 * closing cost 1-4 s a test on a busy 2-core machine.
 */
async function fileBrowser(): Promise<Browser> {
  const running = await sharedBrowser?.catch(() => undefined);
  if (running?.isConnected()) return running;
  sharedBrowser = launch();
  return await sharedBrowser;
}

/**
 * A test with its own server, and the Chromium of the file's browser tests
 * (closed after the last of them ends; under --filter, when the process
 * exits). The sanitizers are off: playwright-core keeps its own pipes and
 * timers open.
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
  const ignore = !BROWSER && !IN_CI;
  if (!ignore) unfinished++;
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      try {
        await using server = startTestServer(env);
        const browser = await fileBrowser();
        try {
          await fn(t, browser, server);
        } finally {
          await closeDemos(browser);
        }
      } finally {
        if (--unfinished === 0) {
          const browser = await sharedBrowser?.catch(() => undefined);
          sharedBrowser = undefined;
          await browser?.close();
        }
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
