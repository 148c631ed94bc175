/**
 * A token bucket: `rate` tokens per second up to `burst`, checked in O(1)
 * with no allocation, so it can run on every message.
 *
 * @module
 */

/** Allows `burst` units at once and `ratePerSecond` units on average. */
export class TokenBucket {
  #tokens: number;
  #updatedAt: number;
  readonly #perMs: number;
  readonly #burst: number;

  /**
   * @param ratePerSecond Units refilled per second.
   * @param burst Capacity; the bucket starts full.
   * @param now The current time in milliseconds (`Date.now()`).
   */
  constructor(ratePerSecond: number, burst: number, now: number) {
    this.#perMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedAt = now;
  }

  /** The capacity, in units. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * How long until the bucket holds `amount` units, in ms: 0 when it does
   * now. Takes nothing; for a sender that paces itself rather than being
   * refused (`/stream`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TokenBucket } from "./token_bucket.ts";
   * const bucket = new TokenBucket(1000, 1000, 0);
   * assert.equal(bucket.waitMs(1000, 0), 0);
   * assert.equal(bucket.take(1000, 0), true);
   * assert.equal(bucket.waitMs(500, 0), 500);
   * ```
   */
  waitMs(amount: number, now: number): number {
    const elapsed = now > this.#updatedAt ? now - this.#updatedAt : 0;
    const refilled = this.#tokens + elapsed * this.#perMs;
    const tokens = refilled > this.#burst ? this.#burst : refilled;
    return tokens >= amount ? 0 : (amount - tokens) / this.#perMs;
  }

  /**
   * Takes `amount` units if the bucket holds them.
   *
   * @returns `false` when taking them would exceed the rate.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TokenBucket } from "./token_bucket.ts";
   * const bucket = new TokenBucket(1, 2, 0);
   * assert.equal(bucket.take(2, 0), true);
   * assert.equal(bucket.take(1, 0), false, "the burst is spent");
   * assert.equal(bucket.take(1, 1000), true, "one unit a second comes back");
   * ```
   */
  take(amount: number, now: number): boolean {
    // A wall clock can step back; time never refills negatively.
    const elapsed = now > this.#updatedAt ? now - this.#updatedAt : 0;
    this.#updatedAt = now;
    const refilled = this.#tokens + elapsed * this.#perMs;
    const tokens = refilled > this.#burst ? this.#burst : refilled;
    if (tokens < amount) {
      this.#tokens = tokens;
      return false;
    }
    this.#tokens = tokens - amount;
    return true;
  }
}
