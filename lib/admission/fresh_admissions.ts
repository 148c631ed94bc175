/**
 * The upgrades admitted lately, for the memory guard's reserve
 * (`MemoryGuard.admitsNew`): a connection is charged only once its first
 * message has arrived (`heldReadBytes`, twice its size), so a burst
 * admitted while nothing is counted brings up to 2 x MAX_MESSAGE_BYTES each
 * before the budget sees any of it. 256 clients that never read, sending
 * 1 MiB messages and reconnecting as fast as they were shed, were admitted
 * in waves whenever the count fell: 2.4-4.7x the budget counted at the
 * defaults (`bench/attacks/budget.sh`), and at MAX_RSS_BYTES 256 MiB the
 * watchdog thread ended `deno task start` (an attack review).
 *
 * Each admission is kept until its connection's first message arrives (then
 * the guard charges what it holds), it closes, or {@link FRESH_MS} passes.
 *
 * @module
 */

/**
 * How long an admitted upgrade counts as fresh at most, in ms: a client
 * that sends at once (as the attack does) has had its first message read
 * and charged well within it; one that waits longer is paced by it.
 */
export const FRESH_MS = 2000;

/**
 * The upgrades admitted lately whose connection has had no message yet,
 * oldest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRESH_MS, FreshAdmissions } from "./fresh_admissions.ts";
 * const fresh = new FreshAdmissions();
 * const [a, b, c] = [{}, {}, {}];
 * fresh.admitted(a, 0);
 * fresh.admitted(b, 10);
 * fresh.admitted(c, 20);
 * fresh.settled(b);
 * assert.equal(fresh.count(20), 2);
 * assert.equal(fresh.count(FRESH_MS), 1);
 * ```
 */
export class FreshAdmissions {
  /** Each admission's key (its lease) and when it was admitted, in order. */
  readonly #at = new Map<object, number>();

  /** The upgrade `key` was admitted at `now` (ms). */
  admitted(key: object, now: number): void {
    this.#forget(now);
    this.#at.set(key, now);
  }

  /** The connection of `key` had its first message, or closed. */
  settled(key: object): void {
    this.#at.delete(key);
  }

  /** How many admitted within {@link FRESH_MS} before `now` are unsettled. */
  count(now: number): number {
    this.#forget(now);
    return this.#at.size;
  }

  /** Forgets those admitted {@link FRESH_MS} or more before `now`. */
  #forget(now: number): void {
    for (const [key, at] of this.#at) {
      if (now - at < FRESH_MS) return;
      this.#at.delete(key);
    }
  }
}
