/**
 * The suspect list: client addresses the overload watch struck at repeated
 * incidents (`lib/start/overload_attribution.ts` says who is struck). An incident the app
 * cannot count (endless fragments, control-frame floods, reset upgrades)
 * costs every client a reconnect; refusing a repeat attacker's address for a
 * while stops it from costing them again. A client that sends complete
 * messages is never struck (`lib/start/overload_attribution.ts` says who
 * is), and an address seen exchanging messages is vouched for a while.
 * Whether a strike is of a try already struck is `same_try.ts`'s to say;
 * what each key's strikes earn (its record, the listing) is
 * `strike_records.ts`'s.
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";
import { BroughtBytes } from "./brought_bytes.ts";
import { keyNetwork } from "./client_ip.ts";
import type { SuspectNews, SuspectPeers } from "./suspect_peers.ts";
import { repeatsTry, sameIncident, type StrikeOptions } from "./same_try.ts";
import {
  MAX_TRACKED_ADDRESSES,
  refusalMs,
  type StrikeRecord,
  StrikeRecords,
  SUSPECT_STRIKES,
  type SuspectState,
} from "./strike_records.ts";

export type { SuspectState };

/** How long an address seen exchanging messages stays vouched for, in ms. */
export const VOUCH_MEMORY_MS = 10 * 60_000;
/**
 * How long a client a watchdog thread is aborting is refused while its
 * worker has not struck it yet, in ms ({@link SuspectList.adopt}): that
 * worker strikes it once its loop turns, seconds on a busy machine.
 */
export const ABORTING_HOLD_MS = 10_000;

/** What {@link SuspectList.strike} decided for one address. */
export interface Strike {
  key: string;
  strikes: number;
  /** Seconds the address is now refused for; 0 when not (yet) listed. */
  refusedForSeconds: number;
}

/**
 * Strikes per client key (an IPv4 address or IPv6 prefix) and the refusals
 * they earn.
 *
 * @example Listed at the second incident, refused on the third try
 * ```ts
 * import assert from "node:assert/strict";
 * import { SuspectList } from "./suspects.ts";
 * const suspects = new SuspectList();
 * suspects.strike(["127.0.0.2"], 0);
 * assert.equal(suspects.refusedFor("127.0.0.2", 1), 0);
 * const [strike] = suspects.strike(["127.0.0.2"], 1000);
 * assert.equal(strike!.refusedForSeconds, 300);
 * assert.equal(suspects.refusedFor("127.0.0.2", 2000), 299);
 * assert.equal(suspects.refusedFor("127.0.0.3", 2000), 0);
 * ```
 */
export class SuspectList {
  readonly #records = new StrikeRecords();
  readonly #peers: SuspectPeers | undefined;
  /**
   * Keys seen exchanging messages at an incident: when (ms since epoch),
   * and whether another worker saw it.
   */
  readonly #vouched = new BoundedMap<string, { at: number; byPeer: boolean }>(
    MAX_TRACKED_ADDRESSES,
  );
  /**
   * Keys a watchdog thread is aborting whose strike will list them, until
   * when (ms since epoch), and until when that listing would refuse them.
   */
  readonly #held = new Map<string, { until: number; refusedUntil: number }>();
  readonly #keyOf: (address: string) => string | undefined;
  /**
   * What each key brought the app never saw at recent readings, kept here
   * between incidents for `lib/start/overload_attribution.ts`.
   */
  readonly brought: BroughtBytes = new BroughtBytes({
    maxKeys: MAX_TRACKED_ADDRESSES,
  });

  /**
   * @param options.peers The other workers of the process (`deno serve
   * --parallel`): each strike, vouch and listing made here is told to them,
   * and theirs are taken in here ({@link adopt}). @default none
   * @param options.keyOf The client key of a connection's address, as the
   * kernel lists it, or undefined when that is not the client's (behind a
   * proxy): for a watchdog thread's news. @default the address itself
   */
  constructor(
    options: {
      peers?: SuspectPeers;
      keyOf?: (address: string) => string | undefined;
    } = {},
  ) {
    this.#peers = options.peers;
    this.#keyOf = options.keyOf ?? ((address) => address);
    this.#peers?.listen((news) => this.adopt(news));
  }

  /**
   * Takes in what another worker's list decided: its vouches; its strikes,
   * each counted here unless it repeats a try struck already
   * (`same_try.ts` `repeatsTry`: the same connections cut, or within
   * `SAME_INCIDENT_MS`, as the workers' watches trip together on the
   * process's RSS, each striking its own connections), and never listing
   * here (the worker that struck lists, and says so); its
   * listings, refused here until the same moment. Listings adopted are not
   * counted in {@link SuspectState.listedTotal}: the worker that listed
   * counts them. A vouch and a strike of one key by two workers at one
   * incident: the strike stands and the key is not vouched for, whichever
   * is heard first (`#vouch`). A watchdog thread's news that it is
   * aborting clients (`aborting`, before its worker can strike them):
   * those its worker's strike will list are refused from now until that
   * strike is heard, for {@link ABORTING_HOLD_MS} at most (`#hold`).
   */
  adopt(news: SuspectNews): void {
    const at = news.at;
    if (news.kind === "vouch") return this.#vouch(news.keys, at, true);
    if (news.kind === "aborting") return this.#hold(news.addresses, at);
    this.#forgetOld(at);
    for (const { key, listing, openedAt, connections } of news.struck) {
      this.#held.delete(key);
      const record = this.#records.of(key);
      this.#unclear(key, record, at, true);
      const again = repeatsTry(record, at, {
        byPeer: true,
        openedAt,
        connections,
      });
      if (listing) {
        record.refusedUntil = Math.max(
          record.refusedUntil,
          listing.refusedUntil,
        );
        record.listings = Math.max(record.listings, listing.listings);
        record.strikes = 0;
      } else if (!again) {
        record.strikes++;
      }
      record.lastStrikeAt = Math.max(record.lastStrikeAt, at);
      record.byPeer = true;
    }
  }

  /**
   * Refuses now the clients of `addresses` a watchdog thread is aborting
   * at `at` whose strike will list them: each key (and its network, for an
   * address not struck before, as an abort strikes it: `abortStrikes`)
   * struck {@link SUSPECT_STRIKES} - 1 times before `at`, not listed and
   * not vouched for since. The client, cut, reconnects at once, while the
   * thread's worker strikes it only once its held loop turns; news heard
   * after that strike (the worker's own, read after the thread's message)
   * holds nothing.
   */
  #hold(addresses: readonly string[], at: number): void {
    const keys = new Set<string>();
    for (const address of addresses) {
      const key = this.#keyOf(address);
      if (key === undefined) continue;
      keys.add(key);
      const network = keyNetwork(key);
      if (network !== key && !this.struckBefore(key, at)) keys.add(network);
    }
    for (const key of keys) {
      const record = this.#records.get(key);
      // Struck since (the news comes after the worker's strike): done.
      if (
        !record || record.lastStrikeAt >= at || record.refusedUntil > at ||
        this.vouched(key, at) || record.strikes + 1 < SUSPECT_STRIKES
      ) continue;
      this.#held.set(key, {
        until: at + ABORTING_HOLD_MS,
        refusedUntil: at + refusalMs(record.listings),
      });
    }
  }

  /** Stops hearing the other workers (when the server stops). */
  dispose(): void {
    this.#peers?.close();
  }

  /**
   * Remembers `keys` as seen exchanging messages at an incident, for
   * {@link VOUCH_MEMORY_MS}: a young silent connection of theirs is taken
   * for a reconnect the held event loop has not served yet. Their strikes
   * start again (a bystander silent at one incident, its first message not
   * yet processed by the held loop, and seen exchanging at the next).
   *
   * @param now Milliseconds since epoch.
   */
  vouch(keys: Iterable<string>, now: number = Date.now()): void {
    const vouched = [...keys];
    if (vouched.length === 0) return;
    this.#vouch(vouched, now, false);
    this.#peers?.publish({ kind: "vouch", at: now, keys: vouched });
  }

  /**
   * Seen exchanging messages: the keys' strikes start again, but for a
   * strike another worker made at the same incident
   * (`same_try.ts` `SAME_INCIDENT_MS`): an attacker keeping one echoing connection on one
   * worker and flooding from another was vouched for by the first at each
   * incident, wiping the second's strikes, and never listed (a code
   * review: 4 incidents, 1 strike each). Such a key is not vouched for
   * either: a vouched key's silent connections are spared at the next
   * incidents (`overload_attribution.ts`), so the flooding worker never
   * struck it again (by timing) and never listed it. Within one worker a
   * struck key is never vouched for at that incident.
   */
  #vouch(keys: Iterable<string>, now: number, byPeer: boolean): void {
    for (const key of keys) {
      const record = this.#records.get(key);
      if (
        record && sameIncident(now, record.lastStrikeAt) &&
        (byPeer || record.byPeer)
      ) {
        this.#vouched.delete(key);
        continue;
      }
      if (record) {
        // Kept until a strike of this incident by another worker comes.
        record.cleared = record.strikes;
        record.clearedAt = now;
        record.clearedByPeer = byPeer;
        record.strikes = 0;
      }
      this.#vouched.set(key, { at: now, byPeer });
    }
  }

  /**
   * A strike of `key` at `at` (another worker's when `byPeer`) of the
   * incident a vouch was made at, the strike or the vouch another
   * worker's: the strikes the vouch cleared are put back, and the vouch is
   * taken back.
   */
  #unclear(
    key: string,
    record: StrikeRecord,
    at: number,
    byPeer: boolean,
  ): void {
    if (
      record.cleared > 0 && sameIncident(at, record.clearedAt) &&
      (byPeer || record.clearedByPeer)
    ) record.strikes += record.cleared;
    record.cleared = 0;
    const vouch = this.#vouched.get(key);
    if (
      vouch !== undefined && sameIncident(at, vouch.at) &&
      (byPeer || vouch.byPeer)
    ) this.#vouched.delete(key);
  }

  /** True when `key` was vouched for within {@link VOUCH_MEMORY_MS}. */
  vouched(key: string, now: number = Date.now()): boolean {
    const vouch = this.#vouched.get(key);
    return vouch !== undefined && now - vouch.at <= VOUCH_MEMORY_MS;
  }

  /**
   * Strikes each key once for one incident; a key reaching
   * {@link SUSPECT_STRIKES} without being vouched for in between
   * ({@link vouch}) is refused for `SUSPECT_REFUSE_SECONDS`, doubled
   * for each earlier listing. An incident the key was absent from leaves
   * its strikes: two attacking addresses taking turns (one incident each,
   * in turn) were never refused while an absence cleared them (stranger
   * review, `frag_alternate`: 6 incidents, 6 recycles, 0 listings).
   *
   * @param keys Distinct client keys connected at the incident and silent.
   * @param now Milliseconds since epoch.
   */
  strike(
    keys: Iterable<string>,
    now: number = Date.now(),
    options: StrikeOptions = {},
  ): Strike[] {
    this.#forgetOld(now);
    const struck = new Set(keys);
    const out: Strike[] = [];
    const news: SuspectNews & { kind: "strike" } = {
      kind: "strike",
      at: now,
      struck: [],
    };
    for (const key of struck) {
      this.#held.delete(key);
      const record = this.#records.of(key);
      this.#unclear(key, record, now, false);
      const openedAt = options.openedAt?.get(key);
      const connections = options.connections?.get(key);
      // Its connections were cut at an earlier strike (`connections`), or
      // another worker struck it at this incident already (`adopt`), or
      // this one for the same held stretch (`heldSince`).
      const counted = repeatsTry(record, now, {
        byPeer: false,
        openedAt,
        connections,
        heldSince: options.heldSince,
      });
      if (!counted) record.strikes++;
      record.lastStrikeAt = now;
      record.byPeer = false;
      const refusedForSeconds = this.#records.list(record, now);
      out.push({ key, strikes: record.strikes, refusedForSeconds });
      news.struck.push({
        key,
        ...(refusedForSeconds > 0
          ? {
            listing: {
              refusedUntil: record.refusedUntil,
              listings: record.listings,
            },
          }
          : {}),
        ...(openedAt === undefined ? {} : { openedAt }),
        ...(connections === undefined ? {} : { connections: [...connections] }),
      });
    }
    if (news.struck.length > 0) this.#peers?.publish(news);
    return out;
  }

  /**
   * True when `key` was struck within `STRIKE_MEMORY_MS` and not
   * vouched for since, or is refused now: not a fresh address.
   */
  struckBefore(key: string, now: number = Date.now()): boolean {
    return this.#records.struckBefore(key, now);
  }

  /** Seconds `key` is still refused for (rounded up), or 0 when admitted. */
  refusedFor(key: string, now: number = Date.now()): number {
    return this.refusal(key, now)?.seconds ?? 0;
  }

  /**
   * Why `key` is refused now: its own listing, or its network's
   * (`keyNetwork`: addresses that together brought what none brought
   * alone, `lib/start/overload_attribution.ts`) unless `key` was vouched
   * for (seen exchanging messages: a bystander in the attacker's /24 is
   * not refused with it). The listed key and the seconds left (rounded
   * up); undefined when admitted.
   */
  refusal(
    key: string,
    now: number = Date.now(),
  ): { key: string; seconds: number } | undefined {
    // Every upgrade asks: nobody struck is the common case.
    if (this.#records.size === 0) return undefined;
    if (this.#held.size > 0) {
      const held = this.#heldFor(key, now) ??
        (this.vouched(key, now)
          ? undefined
          : this.#heldFor(keyNetwork(key), now));
      if (held) return held;
    }
    const own = this.#records.secondsLeft(key, now);
    if (own > 0) return { key, seconds: own };
    const network = keyNetwork(key);
    if (network === key || this.vouched(key, now)) return undefined;
    const seconds = this.#records.secondsLeft(network, now);
    return seconds > 0 ? { key: network, seconds } : undefined;
  }

  /** `key`'s hold (`#hold`) with the seconds its listing would have left. */
  #heldFor(
    key: string,
    now: number,
  ): { key: string; seconds: number } | undefined {
    const held = this.#held.get(key);
    if (!held) return undefined;
    if (held.until <= now) {
      this.#held.delete(key);
      return undefined;
    }
    return { key, seconds: Math.ceil((held.refusedUntil - now) / 1000) };
  }

  /** Counts for `/healthz` and `/metrics`. */
  state(now: number = Date.now()): SuspectState {
    return this.#records.state(now);
  }

  #forgetOld(now: number): void {
    this.brought.forgetOld(now);
    for (const [key, vouch] of this.#vouched) {
      if (now - vouch.at > VOUCH_MEMORY_MS) this.#vouched.delete(key);
    }
    this.#records.forgetOld(now);
  }
}
