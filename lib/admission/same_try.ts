/**
 * Whether a strike of a client key is of a try already struck: one try,
 * one strike, whichever path cuts it (the overload watch, a watchdog
 * thread, the kernel-count check) and whichever `deno serve` worker. Four
 * rules, each for a case the others cannot see:
 *
 * - the cut connections' ids ({@link StrikeOptions.connections}): the
 *   same connection cut by two paths, however far apart in time;
 * - another worker's strike within {@link SAME_INCIDENT_MS}: two workers
 *   each cutting their own connections of one attacker at one incident;
 * - a held stretch of the loop ({@link StrikeOptions.heldSince}): a
 *   thread's abort reported after this worker's watch struck for the
 *   same stretch, having cut other connections or none;
 * - when the struck connections opened ({@link StrikeOptions.openedAt}):
 *   a connection opened after the key's last strike is its next try, even
 *   inside those two windows.
 *
 * `suspects.ts` keeps the strikes; {@link StruckConnections} builds the
 * options a striker passes.
 *
 * @module
 */
import { keyNetwork } from "./client_ip.ts";

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

/**
 * Connections remembered per key as cut at its strikes
 * ({@link StrikeOptions.connections}); past it the oldest is forgotten and
 * a strike of them counts again. 16 ids of ~30 characters for each of
 * `suspects.ts` `MAX_TRACKED_ADDRESSES` keys: ~13 MB at most.
 */
export const CUT_CONNECTIONS_PER_KEY = 16;

/** How `SuspectList.strike` judges its keys. */
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

/**
 * A striker's {@link StrikeOptions.openedAt} and
 * {@link StrikeOptions.connections}, built one connection at a time for its
 * key and the key's network (`keyNetwork`: an abort may strike both).
 *
 * @example Two connections of one address, one of them cut
 * ```ts
 * import assert from "node:assert/strict";
 * import { StruckConnections } from "./same_try.ts";
 * const struck = new StruckConnections();
 * struck.add("127.0.0.2", 5000, "127.0.0.2:40000");
 * struck.add("127.0.0.2", 3000);
 * assert.equal(struck.openedAt.get("127.0.0.0/24"), 3000);
 * assert.deepEqual(struck.connections.get("127.0.0.2"), [
 *   "127.0.0.2:40000@5000",
 * ]);
 * ```
 */
export class StruckConnections {
  /** When each key's oldest connection added opened (ms since epoch). */
  readonly openedAt: Map<string, number> = new Map();
  /** Each key's connections added as cut ({@link connectionId}). */
  readonly connections: Map<string, string[]> = new Map();
  readonly #keys: ReadonlySet<string> | undefined;

  /**
   * @param keys Only these keys are built (a key's network too only when
   * listed). @default every key added, and its network
   */
  constructor(keys?: ReadonlySet<string>) {
    this.#keys = keys;
  }

  /**
   * Adds a connection of `key` opened at `openedAt` (ms since epoch); cut
   * by this strike when `cutPeer` (its `peerKey`) is given.
   */
  add(key: string, openedAt: number, cutPeer?: string): void {
    const id = cutPeer === undefined
      ? undefined
      : connectionId(cutPeer, openedAt);
    for (const each of [key, keyNetwork(key)]) {
      if (this.#keys && !this.#keys.has(each)) continue;
      if (openedAt < (this.openedAt.get(each) ?? Infinity)) {
        this.openedAt.set(each, openedAt);
      }
      if (id === undefined) continue;
      const ids = this.connections.get(each);
      if (ids) ids.push(id);
      else this.connections.set(each, [id]);
    }
  }
}

/** What {@link repeatsTry} reads and keeps of one key's strikes. */
export interface TryRecord {
  /** When the key was last struck (ms since epoch), by any worker. */
  lastStrikeAt: number;
  /** The last strike was another worker's. */
  byPeer: boolean;
  /** The connections its strikes cut ({@link StrikeOptions.connections}). */
  cut: Set<string>;
}

/**
 * True when a strike of `record`'s key at `at` (ms) is of a try struck
 * before: every connection it cuts was cut at an earlier strike; or it or
 * the last strike is another worker's ({@link SAME_INCIDENT_MS}); or,
 * this worker's after its own, within `heldSince`; unless, for the last
 * two, the key's connections struck now opened after its last strike.
 * Remembers the connections it cuts in `record.cut`, whatever it answers.
 *
 * @param strike.byPeer This strike is another worker's, heard now.
 */
export function repeatsTry(
  record: TryRecord,
  at: number,
  strike: {
    byPeer: boolean;
    openedAt: number | undefined;
    connections: readonly string[] | undefined;
    heldSince?: number | undefined;
  },
): boolean {
  const { openedAt } = strike;
  if (cutBefore(record, strike.connections)) return true;
  if (strike.byPeer || record.byPeer) {
    return sameTry(at, record.lastStrikeAt, openedAt);
  }
  return strike.heldSince !== undefined &&
    record.lastStrikeAt >= strike.heldSince &&
    !(openedAt !== undefined && openedAt > record.lastStrikeAt);
}

/** True when strikes at `a` and `b` (ms) are {@link SAME_INCIDENT_MS} apart or less. */
export function sameIncident(a: number, b: number): boolean {
  return Math.abs(a - b) < SAME_INCIDENT_MS;
}

/**
 * True when every one of `connections` (of a key struck now) was cut at
 * an earlier strike of `record`'s key: the same try. Remembers them as
 * cut, the oldest forgotten past {@link CUT_CONNECTIONS_PER_KEY}.
 */
function cutBefore(
  record: TryRecord,
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

/**
 * True when a strike at `at` (ms) is of the incident the key was last
 * struck at (`last`): {@link sameIncident}, unless every connection struck
 * now opened after `last` (`openedAt`, when known): the client's next try.
 */
function sameTry(at: number, last: number, openedAt?: number): boolean {
  return !(openedAt !== undefined && openedAt > last) &&
    sameIncident(at, last);
}
