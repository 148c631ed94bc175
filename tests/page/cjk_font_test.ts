/**
 * The Chinese pages must show Chinese, not the empty boxes Chromium draws
 * when no installed font has the glyphs (the browser tests once passed while
 * every zh screenshot was unreadable). Each CJK character of the page title
 * is drawn on a canvas in the title's font: distinct characters must give
 * distinct pictures, none of them the picture of an unassigned character.
 * A second Chromium that sees no CJK font shows the check catches boxes.
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { findBrowser, NO_BROWSER_MESSAGE } from "../../bench/browser.ts";
import { startTestServer } from "../_server.ts";

const BROWSER = findBrowser();
const IN_CI = Deno.env.get("CI") === "true";
/**
 * Every playwright wait ends by then, in ms: generous, since Chromium on a
 * busy 2-core machine took over 10 s to load the page (the stress check).
 */
const WAIT_MS = 30_000;

function launch(env: Record<string, string> = {}): Promise<Browser> {
  if (!BROWSER) {
    throw new Error(
      `Browser tests must run under CI=true: ${NO_BROWSER_MESSAGE}`,
    );
  }
  return chromium.launch({
    executablePath: BROWSER,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
    env: { ...Deno.env.toObject(), ...env },
    timeout: WAIT_MS,
  });
}

/**
 * Page code (a string: these tests are type-checked without the DOM
 * library): how the title's CJK characters render. `boxes` is true when two
 * different characters look the same, or one looks like U+E000, a private-use
 * character no font here draws: the fallback box (or nothing at all).
 */
const RENDERING = `(() => {
  const title = document.querySelector("h1");
  const chars = [...new Set(title.textContent.match(/[\\u3400-\\u9fff]/g))];
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.font = getComputedStyle(title).font.replace(/[\\d.]+px/, "40px");
  context.textBaseline = "top";
  const draw = (text) => {
    context.clearRect(0, 0, 64, 64);
    context.fillText(text, 4, 4);
    return context.getImageData(0, 0, 64, 64).data.join();
  };
  const box = draw("\\uE000");
  const pictures = chars.map(draw);
  return {
    chars: chars.join(""),
    boxes: new Set(pictures).size < pictures.length ||
      pictures.some((picture) => picture === box),
  };
})()`;

/**
 * How the demo page at `url` renders its title in `page` (one page a
 * browser: a new page costs a renderer process, 2-3 s on a busy machine).
 */
async function titleRendering(
  page: Page,
  url: string,
): Promise<{ chars: string; boxes: boolean }> {
  await page.goto(url);
  await page.locator("h1").waitFor();
  return await page.evaluate(RENDERING);
}

/** A page of `browser` with this file's timeout. */
async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  return page;
}

Deno.test({
  name: "the Chinese pages render Chinese glyphs, not fallback boxes",
  ignore: !BROWSER && !IN_CI,
  // playwright-core keeps its own pipes and timers open.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = startTestServer();
    const browser = await launch();
    try {
      const page = await newPage(browser);
      for (const lang of ["zh-Hant", "zh-Hans"]) {
        await t.step(lang, async () => {
          const { chars, boxes } = await titleRendering(
            page,
            `${server.http}/?lang=${lang}`,
          );
          assert.ok(chars.length >= 2, `the ${lang} title has CJK: ${chars}`);
          assert.equal(
            boxes,
            false,
            `${lang} draws "${chars}" as boxes: install a CJK font (apt-get install fonts-wqy-zenhei)`,
          );
        });
      }
    } finally {
      await browser.close();
    }
    await t.step(
      "the check sees boxes when Chromium has no CJK font",
      async () => {
        const dir = await Deno.makeTempDir({ prefix: "ws-echo-fonts-" });
        // Latin fonts only: what a machine without fonts-wqy-zenhei has.
        await Deno.writeTextFile(
          `${dir}/fonts.conf`,
          `<?xml version="1.0"?>
<fontconfig>
  <dir>/usr/share/fonts/truetype/dejavu</dir>
  <dir>/usr/share/fonts/truetype/liberation</dir>
  <cachedir>${dir}/cache</cachedir>
</fontconfig>
`,
        );
        const latinOnly = await launch({
          FONTCONFIG_FILE: `${dir}/fonts.conf`,
        });
        try {
          const { boxes } = await titleRendering(
            await newPage(latinOnly),
            `${server.http}/?lang=zh-Hans`,
          );
          assert.equal(boxes, true);
        } finally {
          await latinOnly.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    );
  },
});
