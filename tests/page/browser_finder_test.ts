/** How the browser tests find a browser (bench/browser.ts). */
import assert from "node:assert/strict";
import {
  BROWSER_VARIABLE,
  browserCandidates,
  findBrowser,
  NO_BROWSER_MESSAGE,
} from "../../bench/browser.ts";

Deno.test("browserCandidates() tries CHROMIUM_PATH first, then the usual places", () => {
  const env: Record<string, string> = {
    CHROMIUM_PATH: "/opt/chrome/chrome",
    LOCALAPPDATA: "C:\\Users\\me\\AppData\\Local",
  };
  const candidates = browserCandidates((name) => env[name]);
  assert.equal(candidates[0], "/opt/chrome/chrome");
  assert.equal(candidates[1], "/usr/bin/chromium");
  assert.ok(
    candidates.includes(
      "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ),
  );
  assert.ok(
    candidates.includes(
      "C:\\Users\\me\\AppData\\Local\\Google\\Chrome\\Application\\chrome.exe",
    ),
  );
  assert.equal(browserCandidates(() => undefined)[0], "/usr/bin/chromium");
});

Deno.test("findBrowser() returns the first file that exists, or undefined", async () => {
  const file = await Deno.makeTempFile();
  try {
    assert.equal(findBrowser(["/nonexistent/chrome", file], undefined), file);
    assert.equal(
      findBrowser(["/nonexistent/chrome", "/"], undefined),
      undefined,
    );
    assert.equal(findBrowser([file], file), file);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("findBrowser() refuses a CHROMIUM_PATH that names no file, naming it, rather than fall back", () => {
  assert.throws(
    () => findBrowser(["/usr/bin/chromium"], "/nonexistent/chrome"),
    (error: Error) =>
      error.message.startsWith(`${BROWSER_VARIABLE}=/nonexistent/chrome `) &&
      !error.message.includes("\n"),
  );
});

Deno.test("the no-browser message is one line naming the variable and an install", () => {
  assert.ok(!NO_BROWSER_MESSAGE.includes("\n"));
  assert.ok(NO_BROWSER_MESSAGE.includes(BROWSER_VARIABLE));
  assert.match(NO_BROWSER_MESSAGE, /apt-get install chromium/);
});
