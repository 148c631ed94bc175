/**
 * What each client key's strikes earn: its record (strikes, when last
 * struck, listings), the listing at {@link SUSPECT_STRIKES} with its
 * doubling refusal, and what is forgotten when. `suspects.ts` decides
 * when a strike counts (with `same_try.ts`), vouches and holds; this
 * keeps the count.
 *
 * @module
 */
import type { TryRecord } from "./same_try.ts";

/** Incidents an address must be struck at before it is refused. */
export const SUSPECT_STRIKES = 2;
/** How long a listed address is refused, in seconds (doubles per listing, to 1 hour). */
export const SUSPECT_REFUSE_SECONDS = 300;
/** Longest refusal, in seconds. */
export const SUSPECT_REFUSE_MAX_SECONDS = 3600;
/** Strikes older than this are forgotten, in milliseconds. */
export const STRIKE_MEMORY_MS = 10 * 60_000;
/** Addresses remembered at most; past it the oldest strike is forgotten. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** One key's strikes; what tells tries apart is `same_try.ts`'s. */
export interface StrikeRecord extends TryRecord {
  strikes: number;
  /** Refused until this time (ms since epoch); 0 when not listed. */
  refusedUntil: number;
  /** Times listed, for the doubling refusal. */
  listings: number;
  /** Strikes the last vouch cleared, and when (ms since epoch). */
  cleared: number;
  clearedAt: number;
  /** The last vouch was another worker's. */
  clearedByPeer: boolean;
}

/** The suspects, for `/healthz`. */
export interface SuspectState {
  /** Addresses refused now. */
  refused: number;
  /** Addresses struck at least once and remembered. */
  struck: number;
  /** Addresses listed since start-up. */
  listedTotal: number;
}

/**
 * The records of at most {@link MAX_TRACKED_ADDRESSES} keys, each kept
 * while refused or struck within {@link STRIKE_MEMORY_MS}.
 *
 * @example Listed at the second strike, for 300 s
 * ```ts
 * import assert from "node:assert/strict";
 * import { StrikeRecords } from "./strike_records.ts";
 * const records = new StrikeRecords();
 * const record = records.of("127.0.0.2");
 * record.strikes = 2;
 * assert.equal(records.list(record, 0), 300);
 * assert.equal(records.secondsLeft("127.0.0.2", 1000), 299);
 * ```
 */
export class StrikeRecords {
  readonly #records = new Map<string, StrikeRecord>();
  #listedTotal = 0;

  /** Keys remembered. */
  get size(): number {
    return this.#records.size;
  }

  /** `key`'s record, if remembered. */
  get(key: string): StrikeRecord | undefined {
    return this.#records.get(key);
  }

  /** `key`'s record, made (the oldest dropped past the cap) if new. */
  of(key: string): StrikeRecord {
    let record = this.#records.get(key);
    if (record === undefined) {
      if (this.#records.size >= MAX_TRACKED_ADDRESSES) this.#dropOldest();
      record = {
        strikes: 0,
        lastStrikeAt: -Infinity,
        refusedUntil: 0,
        listings: 0,
        byPeer: false,
        cleared: 0,
        clearedAt: -Infinity,
        clearedByPeer: false,
        cut: new Set(),
      };
      this.#records.set(key, record);
    }
    return record;
  }

  /**
   * Lists `record`'s key at `now` (ms) when it has {@link SUSPECT_STRIKES}
   * and is not refused already: refused for {@link refusalMs}, its strikes
   * start again. The seconds it is now refused for; 0 when not listed.
   */
  list(record: StrikeRecord, now: number): number {
    if (record.strikes < SUSPECT_STRIKES || record.refusedUntil > now) {
      return 0;
    }
    const refusedForSeconds = refusalMs(record.listings) / 1000;
    record.refusedUntil = now + refusedForSeconds * 1000;
    record.listings++;
    record.strikes = 0;
    this.#listedTotal++;
    return refusedForSeconds;
  }

  /**
   * True when `key` was struck within {@link STRIKE_MEMORY_MS} and not
   * vouched for since, or is refused now: not a fresh address.
   */
  struckBefore(key: string, now: number): boolean {
    const record = this.#records.get(key);
    if (record === undefined) return false;
    return record.refusedUntil > now ||
      record.strikes > 0 && now - record.lastStrikeAt <= STRIKE_MEMORY_MS;
  }

  /** Seconds `key`'s own listing has left at `now` (rounded up), or 0. */
  secondsLeft(key: string, now: number): number {
    const until = this.#records.get(key)?.refusedUntil ?? 0;
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /** Counts for `/healthz` and `/metrics`. */
  state(now: number): SuspectState {
    let refused = 0;
    for (const record of this.#records.values()) {
      if (record.refusedUntil > now) refused++;
    }
    return {
      refused,
      struck: this.#records.size,
      listedTotal: this.#listedTotal,
    };
  }

  /** Forgets the keys neither refused nor struck within {@link STRIKE_MEMORY_MS}. */
  forgetOld(now: number): void {
    for (const [key, record] of this.#records) {
      if (
        record.refusedUntil <= now &&
        now - record.lastStrikeAt > STRIKE_MEMORY_MS
      ) this.#records.delete(key);
    }
  }

  #dropOldest(): void {
    let oldest: [string, number] | undefined;
    for (const [key, record] of this.#records) {
      if (!oldest || record.lastStrikeAt < oldest[1]) {
        oldest = [key, record.lastStrikeAt];
      }
    }
    if (oldest) this.#records.delete(oldest[0]);
  }
}

/**
 * How long a listing refuses a key listed `listings` times before, in ms:
 * {@link SUSPECT_REFUSE_SECONDS} doubled for each, at most
 * {@link SUSPECT_REFUSE_MAX_SECONDS}.
 */
export function refusalMs(listings: number): number {
  return Math.min(
    SUSPECT_REFUSE_SECONDS * 2 ** listings,
    SUSPECT_REFUSE_MAX_SECONDS,
  ) * 1000;
}
