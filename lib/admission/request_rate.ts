/**
 * The per-address rate of plain HTTP requests (everything but a WebSocket
 * upgrade): one token bucket per client key, RATE_LIMIT_IP_REQUESTS_PER_SECOND
 * up to RATE_LIMIT_IP_REQUEST_BURST. Without it one address asked for
 * `/metrics` 1,459 times a second and a bystander's echoes slowed (an
 * attack review, issue #20).
 *
 * The table is bounded: strangers rotate addresses, and each new one would
 * otherwise add an entry for good. It is kept in order of last use, and past
 * {@link MAX_TRACKED_ADDRESSES} the least recently used address is dropped:
 * forgetting an address gives it a full bucket again, never a stricter one.
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";
import { TokenBucket } from "./token_bucket.ts";

/**
 * Addresses tracked at most: about 1.5 MiB of keys and buckets, and as many
 * as MAX_CONNECTIONS' default, so every connected address fits.
 */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Options for {@link RequestRate}. */
export interface RequestRateOptions {
  /** Requests per second and address (0 = off). */
  ratePerSecond: number;
  /** Requests an address may make at once above its rate. */
  burst: number;
  /** @default MAX_TRACKED_ADDRESSES */
  maxAddresses?: number;
}

/** Per-address token buckets for plain HTTP requests. */
export class RequestRate {
  readonly #buckets: BoundedMap<string, TokenBucket>;
  readonly #rate: number;
  readonly #burst: number;

  constructor(options: RequestRateOptions) {
    this.#rate = options.ratePerSecond;
    this.#burst = options.burst;
    this.#buckets = new BoundedMap(
      options.maxAddresses ?? MAX_TRACKED_ADDRESSES,
    );
  }

  /** Addresses tracked now (at most `maxAddresses`). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Counts one request of `key` at `now` (ms since epoch).
   *
   * @returns 0 when it may go ahead, else the seconds until it may (at
   * least 1), for `Retry-After`.
   * @example The burst, then one request a second
   * ```ts
   * import assert from "node:assert/strict";
   * import { RequestRate } from "./request_rate.ts";
   * const rate = new RequestRate({ ratePerSecond: 1, burst: 2 });
   * assert.equal(rate.take("203.0.113.7", 0), 0);
   * assert.equal(rate.take("203.0.113.7", 0), 0);
   * assert.equal(rate.take("203.0.113.7", 0), 1);
   * assert.equal(rate.take("198.51.100.1", 0), 0, "another address");
   * assert.equal(rate.take("203.0.113.7", 1000), 0);
   * ```
   */
  take(key: string, now: number): number {
    if (this.#rate === 0) return 0;
    const bucket = this.#buckets.get(key) ??
      new TokenBucket(this.#rate, this.#burst, now);
    // Set again, so the order is the order of last use.
    this.#buckets.set(key, bucket);
    if (bucket.take(1, now)) return 0;
    return Math.max(1, Math.ceil(bucket.waitMs(1, now) / 1000));
  }
}
