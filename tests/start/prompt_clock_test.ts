/**
 * The overload watch's clock for upgrades that never open: time counts only
 * while the event loop is prompt, so sockets a held loop opens late are not
 * taken for upgrades reset by their client.
 */
import assert from "node:assert/strict";
import {
  PROMPT_DELAY_MS,
  PROMPT_HISTORY_MS,
  PromptClock,
} from "../../lib/start/prompt_clock.ts";

/** Samples every 100 ms from `from` to `to`, each `delayMs` late. */
function run(clock: PromptClock, from: number, to: number, delayMs: number) {
  for (let at = from; at <= to; at += 100) clock.add(at, delayMs);
}

Deno.test("PromptClock counts only the time the loop was prompt", async (t) => {
  await t.step("a prompt loop: the wall clock", () => {
    const clock = new PromptClock();
    run(clock, 0, 5000, 2);
    assert.equal(clock.since(2000), 3000);
  });
  await t.step("a held loop (a burst) does not advance it", () => {
    const clock = new PromptClock();
    run(clock, 0, 1000, 2);
    run(clock, 1100, 20_000, PROMPT_DELAY_MS + 400);
    // An upgrade made during the burst is not yet stuck, however old.
    assert.equal(clock.since(2000), -Infinity);
    run(clock, 20_100, 23_000, 2);
    assert.equal(clock.since(2000), 21_000);
  });
  await t.step("history older than PROMPT_HISTORY_MS is forgotten", () => {
    const clock = new PromptClock();
    run(clock, 0, PROMPT_HISTORY_MS + 10_000, 2);
    assert.equal(clock.since(PROMPT_HISTORY_MS + 5000), -Infinity);
    assert.equal(clock.since(1000), PROMPT_HISTORY_MS + 9000);
  });
});
