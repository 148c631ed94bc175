/**
 * The suspect list: client addresses the overload watch struck at repeated
 * incidents (`lib/start/overload_attribution.ts` says who is struck). An incident the app
 * cannot count (endless fragments, control-frame floods, reset upgrades)
 * costs every client a reconnect; refusing a repeat attacker's address for a
 * while stops it from costing them again. A client that sends complete
 * messages is never struck (`lib/start/overload_attribution.ts` says who
 * is), and an address seen exchanging messages is vouched for a while.
 *
 * @module
 */
import { BoundedMap } from "./bounded_map.ts";
import { BroughtBytes } from "./brought_bytes.ts";
import { keyNetwork } from "./client_ip.ts";
import type { SuspectNews, SuspectPeers } from "./suspect_peers.ts";

/** Incidents an address must be struck at before it is refused. */
export const SUSPECT_STRIKES = 2;
/** How long a listed address is refused, in seconds (doubles per listing, to 1 hour). */
export const SUSPECT_REFUSE_SECONDS = 300;
/** Longest refusal, in seconds. */
export const SUSPECT_REFUSE_MAX_SECONDS = 3600;
/**
 * Strikes of one key by two workers this close together are one incident,
 * in ms: every worker's overload watch reads the process's RSS, so they
 * trip together (within a few of their 100 ms samples, seconds on a busy
 * machine), each striking its own connections of the same attacker. Not
 * when every connection struck at the later one opened after the earlier
 * strike ({@link StrikeOptions.openedAt}): that is the client come back
 * after being cut, its next try. A pong flooder cut by one worker and by
 * the other 1.5 s later was struck once for both, and its third try was
 * admitted (issue #20).
 */
export const SAME_INCIDENT_MS = 2000;
/** Strikes older than this are forgotten, in milliseconds. */
export const STRIKE_MEMORY_MS = 10 * 60_000;
/** Addresses remembered at most; past it the oldest strike is forgotten. */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** How long an address seen exchanging messages stays vouched for, in ms. */
export const VOUCH_MEMORY_MS = 10 * 60_000;
/**
 * How long a client a watchdog thread is aborting is refused while its
 * worker has not struck it yet, in ms ({@link SuspectList.adopt}): that
 * worker strikes it once its loop turns, seconds on a busy machine.
 */
export const ABORTING_HOLD_MS = 10_000;
/**
 * Connections remembered per key as cut at its strikes
 * ({@link StrikeOptions.connections}); past it the oldest is forgotten and
 * a strike of them counts again. 16 ids of ~30 characters for each of
 * {@link MAX_TRACKED_ADDRESSES} keys: ~13 MB at most.
 */
export const CUT_CONNECTIONS_PER_KEY = 16;

interface Record {
  strikes: number;
  lastStrikeAt: number;
  /** Refused until this time (ms since epoch); 0 when not listed. */
  refusedUntil: number;
  /** Times listed, for the doubling refusal. */
  listings: number;
  /** The last strike was another worker's (`SuspectList.adopt`). */
  byPeer: boolean;
  /** Strikes the last vouch cleared, and when (ms since epoch). */
  cleared: number;
  clearedAt: number;
  /** The last vouch was another worker's. */
  clearedByPeer: boolean;
  /** The connections its strikes cut ({@link StrikeOptions.connections}). */
  cut: Set<string>;
}

/** How {@link SuspectList.strike} judges its keys. */
export interface StrikeOptions {
  /**
   * When each key's oldest connection struck now opened (ms since epoch):
   * later than the key's last strike, this is a new incident whatever
   * {@link SAME_INCIDENT_MS} says. @default unknown for every key (time
   * alone tells incidents apart)
   */
  openedAt?: ReadonlyMap<string, number>;
  /**
   * This strike reports a hold of the event loop this worker's own strikes
   * since this time (ms since epoch) may have reported already: a watchdog
   * thread's abort, whose message comes after the overload watch struck
   * for the same held stretch once the loop turned (a try struck twice,
   * refused at its second try, issue #20). A key this worker struck since
   * is not struck again, unless its connections struck now opened after
   * that strike (`openedAt`): its next try. @default none
   */
  heldSince?: number;
  /**
   * The connections of each key this strike is made for, which its striker
   * cuts (closes, aborts), each as {@link connectionId}. A key all of whose
   * connections here were cut at an earlier strike (by this worker or
   * another, by whichever path) is not struck again: one try, one strike.
   * The kernel-count check struck a pong flooder and closed it 1009, the
   * overload watch's incident aborted the same connection before the
   * check's grace ended and struck it again: listed at its first try, its
   * second refused 429 (issue #20). @default none (time and `openedAt`
   * alone tell tries apart)
   */
  connections?: ReadonlyMap<string, readonly string[]>;
}

/**
 * One connection as {@link StrikeOptions.connections} names it: its peer
 * (`lib/start/socket_bytes.ts` `peerKey`) and when it opened (ms since
 * epoch), so that a client reusing its source port is a new connection.
 */
export function connectionId(peer: string, openedAt: number): string {
  return `${peer}@${openedAt}`;
}

/** What {@link SuspectList.strike} decided for one address. */
export interface Strike {
  key: string;
  strikes: number;
  /** Seconds the address is now refused for; 0 when not (yet) listed. */
  refusedForSeconds: number;
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
  readonly #records = new Map<string, Record>();
  readonly #peers: SuspectPeers | undefined;
  /**
   * Keys seen exchanging messages at an incident: when (ms since epoch),
   * and whether another worker saw it.
   */
  readonly #vouched = new BoundedMap<string, { at: number; byPeer: boolean }>(
    MAX_TRACKED_ADDRESSES,
  );
  #listedTotal = 0;
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
   * each counted here unless this key was struck within
   * {@link SAME_INCIDENT_MS} (the workers' watches trip together on the
   * process's RSS, each striking its own connections: one incident), and
   * never listing here (the worker that struck lists, and says so); its
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
      const record = this.#record(key);
      this.#unclear(key, record, at, true);
      const again = cutBefore(record, connections);
      if (listing) {
        record.refusedUntil = Math.max(
          record.refusedUntil,
          listing.refusedUntil,
        );
        record.listings = Math.max(record.listings, listing.listings);
        record.strikes = 0;
      } else if (!again && !sameTry(at, record.lastStrikeAt, openedAt)) {
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
   * strike another worker made at the same incident ({@link
   * SAME_INCIDENT_MS}): an attacker keeping one echoing connection on one
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
  #unclear(key: string, record: Record, at: number, byPeer: boolean): void {
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
   * ({@link vouch}) is refused for {@link SUSPECT_REFUSE_SECONDS}, doubled
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
      const record = this.#record(key);
      this.#unclear(key, record, now, false);
      const openedAt = options.openedAt?.get(key);
      const connections = options.connections?.get(key);
      // Its connections were cut at an earlier strike (`connections`), or
      // another worker struck it at this incident already (`adopt`), or
      // this one for the same held stretch (`heldSince`).
      const counted = cutBefore(record, connections) ||
        (record.byPeer
          ? sameTry(now, record.lastStrikeAt, openedAt)
          : options.heldSince !== undefined &&
            record.lastStrikeAt >= options.heldSince &&
            !(openedAt !== undefined && openedAt > record.lastStrikeAt));
      if (!counted) record.strikes++;
      record.lastStrikeAt = now;
      record.byPeer = false;
      let refusedForSeconds = 0;
      if (record.strikes >= SUSPECT_STRIKES && record.refusedUntil <= now) {
        refusedForSeconds = refusalMs(record.listings) / 1000;
        record.refusedUntil = now + refusedForSeconds * 1000;
        record.listings++;
        record.strikes = 0;
        this.#listedTotal++;
      }
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

  /** `key`'s record, made (the oldest dropped past the cap) if new. */
  #record(key: string): Record {
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
   * True when `key` was struck within {@link STRIKE_MEMORY_MS} and not
   * vouched for since, or is refused now: not a fresh address.
   */
  struckBefore(key: string, now: number = Date.now()): boolean {
    const record = this.#records.get(key);
    if (record === undefined) return false;
    return record.refusedUntil > now ||
      record.strikes > 0 && now - record.lastStrikeAt <= STRIKE_MEMORY_MS;
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
    const own = this.#secondsLeft(key, now);
    if (own > 0) return { key, seconds: own };
    const network = keyNetwork(key);
    if (network === key || this.vouched(key, now)) return undefined;
    const seconds = this.#secondsLeft(network, now);
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

  #secondsLeft(key: string, now: number): number {
    const until = this.#records.get(key)?.refusedUntil ?? 0;
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  /** Counts for `/healthz` and `/metrics`. */
  state(now: number = Date.now()): SuspectState {
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

  #forgetOld(now: number): void {
    this.brought.forgetOld(now);
    for (const [key, vouch] of this.#vouched) {
      if (now - vouch.at > VOUCH_MEMORY_MS) this.#vouched.delete(key);
    }
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
function refusalMs(listings: number): number {
  return Math.min(
    SUSPECT_REFUSE_SECONDS * 2 ** listings,
    SUSPECT_REFUSE_MAX_SECONDS,
  ) * 1000;
}

/**
 * True when every one of `connections` (of a key struck now) was cut at
 * an earlier strike of `record`'s key: the same try. Remembers them as
 * cut, the oldest forgotten past {@link CUT_CONNECTIONS_PER_KEY}.
 */
function cutBefore(
  record: Record,
  connections: readonly string[] | undefined,
): boolean {
  if (connections === undefined || connections.length === 0) return false;
  const again = connections.every((id) => record.cut.has(id));
  for (const id of connections) {
    record.cut.delete(id);
    record.cut.add(id);
    if (record.cut.size > CUT_CONNECTIONS_PER_KEY) {
      record.cut.delete(record.cut.values().next().value!);
    }
  }
  return again;
}

/** True when strikes at `a` and `b` (ms) are {@link SAME_INCIDENT_MS} apart or less. */
function sameIncident(a: number, b: number): boolean {
  return Math.abs(a - b) < SAME_INCIDENT_MS;
}

/**
 * True when a strike at `at` (ms) is of the incident the key was last
 * struck at (`last`): {@link sameIncident}, unless every connection struck
 * now opened after `last` (`openedAt`, when known): the client's next try.
 */
function sameTry(at: number, last: number, openedAt?: number): boolean {
  return !(openedAt !== undefined && openedAt > last) &&
    sameIncident(at, last);
}
