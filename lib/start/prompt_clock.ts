/**
 * How long the event loop has been prompt: the overload watch's clock for
 * "an upgrade whose socket has not opened in time". Deno delivers a
 * socket's `open` event on a turn of the loop, so while a burst holds the
 * loop (1,280 flooders' upgrades, `deno run -A bench/burst_bystander.ts`:
 * timers 200-1,900 ms late for 20 s) sockets open seconds late; counted by
 * the wall clock, hundreds of them were taken for upgrades reset by their
 * client (a descriptor Deno keeps for good), which struck and refused every
 * flooding address although each opened soon after. Counted in time the
 * loop was prompt, an upgrade reset by its client (it never opens) is still
 * seen as soon as the loop has turned promptly for as long.
 *
 * @module
 */

/** A sample whose timer fired later than this was not prompt, in ms. */
export const PROMPT_DELAY_MS = 50;
/** How much history the clock keeps, in ms. */
export const PROMPT_HISTORY_MS = 60_000;

/**
 * Sums the time between samples whose timer fired promptly.
 *
 * @example Time the loop was held does not count
 * ```ts
 * import assert from "node:assert/strict";
 * import { PromptClock } from "./prompt_clock.ts";
 * const clock = new PromptClock();
 * clock.add(0, 0);
 * clock.add(1000, 900); // held: a timer 900 ms late
 * clock.add(2000, 0);
 * clock.add(3000, 0);
 * assert.equal(clock.since(2000), 1000);
 * assert.equal(clock.since(3000), -Infinity);
 * ```
 */
export class PromptClock {
  /** Each sample's time (ms since epoch) and the prompt time summed by then. */
  readonly #history: Array<{ at: number; prompt: number }> = [];
  #prompt = 0;

  /**
   * Adds a sample.
   *
   * @param at When it was taken, in ms since epoch.
   * @param delayMs How late its timer fired, in ms.
   */
  add(at: number, delayMs: number): void {
    const history = this.#history;
    const last = history.at(-1);
    if (last && delayMs < PROMPT_DELAY_MS && at > last.at) {
      this.#prompt += at - last.at;
    }
    history.push({ at, prompt: this.#prompt });
    while (history.length > 2 && history[1]!.at < at - PROMPT_HISTORY_MS) {
      history.shift();
    }
  }

  /**
   * The latest sample time (ms since epoch) since which the loop has been
   * prompt for `ms` or more in all, or -Infinity when it has not been for
   * that long within the history.
   */
  since(ms: number): number {
    const history = this.#history;
    const target = this.#prompt - ms;
    for (let i = history.length - 1; i >= 0; i--) {
      if (history[i]!.prompt <= target) return history[i]!.at;
    }
    return -Infinity;
  }
}
