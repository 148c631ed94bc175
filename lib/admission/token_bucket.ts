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
    // Refilled once per reading of the clock: the messages of one turn
    // share a reading (`turnNow`), and the same reading refills nothing.
    if (now !== this.#updatedAt) this.#refill(now);
    if (this.#tokens < amount) return false;
    this.#tokens -= amount;
    return true;
  }

  /** Adds what the time since the last reading refilled, up to the burst. */
  #refill(now: number): void {
    // A wall clock can step back; time never refills negatively.
    const elapsed = now > this.#updatedAt ? now - this.#updatedAt : 0;
    this.#updatedAt = now;
    const refilled = this.#tokens + elapsed * this.#perMs;
    this.#tokens = refilled > this.#burst ? this.#burst : refilled;
  }
}

/**
 * What a sender that paces itself waits on and takes from (`/stream`): one
 * {@link TokenBucket}, or several paid together ({@link JointRate}).
 */
export interface Pace {
  /** The most one take may ask for, in units. */
  readonly burst: number;
  /** How long until `amount` units may be taken, in ms; 0: now. */
  waitMs(amount: number, now: number): number;
  /** Takes `amount` units; `false` when they are not there (nothing taken). */
  take(amount: number, now: number): boolean;
}

/**
 * A bucket of one's own and a bucket shared with others, paid together: a
 * take waits for both. The shared one is charged `perTake` more units on
 * each take (at most its burst), so it bounds the count of takes too (a
 * message's frame costs the server CPU whatever its size: tiny messages at
 * a byte rate would be tens of thousands a second).
 *
 * @example Two clients' own rates, one shared budget
 * ```ts
 * import assert from "node:assert/strict";
 * import { JointRate, TokenBucket } from "./token_bucket.ts";
 * const shared = new TokenBucket(1000, 1000, 0);
 * const a = new JointRate(new TokenBucket(1000, 1000, 0), shared);
 * const b = new JointRate(new TokenBucket(1000, 1000, 0), shared);
 * assert.equal(a.take(1000, 0), true);
 * assert.equal(b.waitMs(500, 0), 500, "b waits for the budget a spent");
 * ```
 * @example A charge never exceeds the shared burst, so a sender always
 * gets a turn
 * ```ts
 * import assert from "node:assert/strict";
 * import { JointRate, TokenBucket } from "./token_bucket.ts";
 * const tiny = new JointRate(new TokenBucket(1, 1, 0), new TokenBucket(4, 4, 0), 600);
 * assert.equal(tiny.take(0, 0), true);
 * assert.equal(tiny.waitMs(0, 0), 1000, "the shared 4 refill in a second");
 * ```
 */
export class JointRate implements Pace {
  readonly #own: TokenBucket;
  readonly #shared: TokenBucket;
  readonly #perTake: number;

  /**
   * @param own This sender's bucket.
   * @param shared The bucket every sender of its kind shares.
   * @param perTake Units the shared bucket is charged on top of each take.
   */
  constructor(own: TokenBucket, shared: TokenBucket, perTake = 0) {
    this.#own = own;
    this.#shared = shared;
    this.#perTake = perTake;
  }

  get burst(): number {
    return Math.min(this.#own.burst, this.#shared.burst);
  }

  waitMs(amount: number, now: number): number {
    return Math.max(
      this.#own.waitMs(amount, now),
      this.#shared.waitMs(this.#charge(amount), now),
    );
  }

  take(amount: number, now: number): boolean {
    if (this.waitMs(amount, now) > 0) return false;
    this.#own.take(amount, now);
    return this.#shared.take(this.#charge(amount), now);
  }

  /** What a take costs the shared bucket: never more than it holds. */
  #charge(amount: number): number {
    return Math.min(amount + this.#perTake, this.#shared.burst);
  }
}
