/**
 * What each client key (an address or a network) brought the app never
 * saw, under the line at recent readings of the kernel's count, remembered
 * across incidents: a split flood from fresh connections shows only part of
 * itself at each reading, and it keeps coming. `lib/start/overload_attribution.ts`
 * adds it to the next reading's; the suspect list keeps it between incidents
 * (`SuspectList.brought`).
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";

/**
 * How long what an address or network brought the app never saw, under
 * the line, is remembered across incidents, in ms: a split flood from
 * fresh connections shows only part of itself at each reading (5-9 MiB of
 * one /24 at load average 26), and it keeps coming.
 */
export const BROUGHT_MEMORY_MS = 60_000;

/**
 * Bytes per key brought under the line at readings of the last
 * {@link BROUGHT_MEMORY_MS} that did not strike it.
 *
 * @example A reading's bytes count at the next, not once struck
 * ```ts
 * import assert from "node:assert/strict";
 * import { BroughtBytes } from "./brought_bytes.ts";
 * const brought = new BroughtBytes({ maxKeys: 10 });
 * brought.remember({ "127.0.0.0/24": 5_000_000 }, [], 1000);
 * brought.remember({ "127.0.0.0/24": 4_000_000 }, [], 2000);
 * assert.equal(brought.of("127.0.0.0/24", 2000), 9_000_000);
 * assert.equal(brought.rememberedAt, 2000);
 * brought.remember({}, ["127.0.0.0/24"], 3000);
 * assert.equal(brought.of("127.0.0.0/24", 3000), 0);
 * ```
 */
export class BroughtBytes {
  /** What each key brought under the line at recent readings, and when. */
  readonly #brought: BoundedMap<string, { bytes: number; at: number }>;
  #rememberedAt = -Infinity;

  /**
   * @param options.maxKeys Keys remembered at most; past it the oldest is
   * forgotten (the suspect list's `MAX_TRACKED_ADDRESSES`).
   */
  constructor(options: { maxKeys: number }) {
    this.#brought = new BoundedMap(options.maxKeys);
  }

  /**
   * When {@link remember} last ran (ms since epoch): a connection opened
   * before it was counted then.
   */
  get rememberedAt(): number {
    return this.#rememberedAt;
  }

  /**
   * What `key` brought the app never saw at readings of the last
   * {@link BROUGHT_MEMORY_MS} that did not strike it, in bytes
   * (`lib/start/overload_attribution.ts` adds it to the next reading's).
   *
   * @param now Milliseconds since epoch.
   */
  of(key: string, now: number = Date.now()): number {
    const entry = this.#brought.get(key);
    return entry && now - entry.at <= BROUGHT_MEMORY_MS ? entry.bytes : 0;
  }

  /**
   * Remembers what each key's connections opened since the last call
   * brought at a reading (added to what it brought in the last
   * {@link BROUGHT_MEMORY_MS}); a struck key starts again, its bytes paid
   * for by the strike.
   *
   * @param brought Bytes per key at this reading.
   * @param struck Keys struck at this reading.
   * @param now Milliseconds since epoch.
   */
  remember(
    brought: { readonly [key: string]: number },
    struck: Iterable<string>,
    now: number = Date.now(),
  ): void {
    for (const [key, bytes] of Object.entries(brought)) {
      const total = this.of(key, now) + bytes;
      this.#brought.set(key, { bytes: total, at: now });
    }
    for (const key of struck) this.#brought.delete(key);
    this.#rememberedAt = now;
  }

  /** Forgets what was brought longer than {@link BROUGHT_MEMORY_MS} ago. */
  forgetOld(now: number): void {
    for (const [key, entry] of this.#brought) {
      if (now - entry.at > BROUGHT_MEMORY_MS) this.#brought.delete(key);
    }
  }
}
