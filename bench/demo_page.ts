/**
 * What bench/page_stream.ts and the browser tests do to the demo page in
 * the same way: a burst of texts sent with Enter, and the wait for the last
 * echo.
 *
 * @module
 */
import type { Page } from "playwright-core";

/**
 * Sends "m0" to "m<count - 1>" with Enter in the Message field, all in one
 * task (a burst), as a person pressing Enter that fast would.
 */
export async function enterBurst(page: Page, count: number): Promise<void> {
  await page.evaluate(`{
    const field = document.getElementById("text");
    for (let i = 0; i < ${count}; i++) {
      field.value = "m" + i;
      field.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    }
  }`);
}

/** Waits until the echo of "m<count - 1>" is in the stream. */
export async function lastEchoShown(page: Page, count: number): Promise<void> {
  await page.locator("#log li.message", { hasText: `text: m${count - 1}` })
    .waitFor();
}
