/**
 * A memory or stall incident answered by aborting the attackers'
 * connections instead of recycling the listener: where the kernel's count
 * names each attacking connection (past its own allowance,
 * `overload_attribution.ts`) and the process may destroy sockets (`ss -K`,
 * CAP_NET_ADMIN), those connections are aborted. That fails Deno's pending
 * read on each, which frees the fragments it collected (`overload_facts.ts
 * abort`: RSS 336 -> 64 MiB within 250 ms) or ends the flood it was
 * reading, and every other client keeps its connection: no 1013 for the
 * bystanders. Where an attack is not all named that way (struck by its
 * address's or network's total, or by timing), the listener is recycled as
 * before. Split from `overload_watch.ts`, which calls it at an
 * `uncounted_memory` or `event_loop_stall` incident and after the RSS
 * watchdog thread's aborts.
 *
 * @module
 */
import type { Suspects } from "./incident_suspects.ts";
import type { SyncSocketAbort } from "./socket_abort.ts";
import { abortedKeys } from "./thread_aborts.ts";
import { keyNetwork } from "../admission/client_ip.ts";
import type { SuspectList } from "../admission/suspects.ts";
import type { ThreadAbort } from "./watchdog_orders.ts";

/** Whose connections may be found by peer, and how keys are made. */
type Connections = Parameters<typeof abortedKeys>[0];

/** The reason an incident answered by {@link abortAttackers} gives. */
export const KERNEL_ABORT_REASON =
  "the kernel's count named every attacking connection (bytes the app never saw past each one's allowance, or its address's or network's total past theirs): they were aborted (ss -K), the other clients kept theirs";

/**
 * The reason an incident answered by {@link abortAttackers} gives when the
 * connections the kernel's count named were gone by the time `ss -K` came:
 * the watchdog thread aborts while the loop is held, and the watch's
 * reading, taken as the loop turns, can still list them (seen under load:
 * `aborted 0` beside the claim that they were aborted).
 */
export const KERNEL_GONE_REASON =
  "the kernel's count named every attacking connection (bytes the app never saw past each one's allowance, or its address's or network's total past theirs): they were gone when ss -K came (the watchdog thread aborts while the loop is held), the other clients kept theirs";

/** What {@link abortAttackers} did. */
export interface AttackersAborted {
  /** Connections the kernel destroyed. */
  aborted: number;
  /** Why it did not take the whole attack, when it did not. */
  short?: string;
}

/**
 * Aborts the connections struck on the kernel's count when they are the
 * whole attack: `suspects.over` (each past its own allowance) and
 * `suspects.split.over` (those that brought part of an address's or
 * network's total past its allowance: an attack split below each
 * connection's, whose bystanders on other addresses keep their
 * connections), when every key in `suspects.struck` is one of theirs.
 * Nothing is tried without an `abort`, without such connections, or when
 * a key was struck otherwise (by timing, or a close left unanswered).
 *
 * @returns What was aborted (`short` says why it did not take every one:
 * the kernel refused, `ss` could not run), or undefined when nothing was
 * tried.
 */
export function abortAttackers(
  services: Connections,
  abort: SyncSocketAbort | undefined,
  suspects: Suspects,
): AttackersAborted | undefined {
  const peers = [...suspects.over, ...suspects.split.over];
  if (!abort || peers.length === 0) return undefined;
  const named = new Set([
    ...abortedKeys(services, suspects.over),
    ...suspects.split.keys,
  ]);
  if (suspects.struck.some((key) => !named.has(key))) return undefined;
  return abortPeers(abort, peers);
}

/** Aborts `peers` at once (ss -K) and says how much of them it took. */
function abortPeers(
  abort: SyncSocketAbort,
  peers: readonly Deno.NetAddr[],
): AttackersAborted {
  const answer = abort.abortSync(peers);
  if ("unavailable" in answer) return { aborted: 0, short: answer.unavailable };
  if (answer.left.size === 0) return { aborted: answer.aborted };
  return {
    aborted: answer.aborted,
    short: answer.refused ??
      `${answer.left.size} of ${peers.length} not aborted`,
  };
}

/** The reason an incident answered by {@link abortHolding} gives. */
export const SWEEP_REASON =
  "RSS past MAX_RSS_BYTES with connections holding bytes the app never saw and no complete message from them (an attack split below every allowance, over many networks): every one of them was aborted at once (ss -K), only those named on the kernel's count struck; the clients that exchanged complete messages kept theirs";

/**
 * Aborts, in one round, the connections named on the kernel's count
 * ({@link abortAttackers}' `over` and `split.over`) and every connection
 * holding unseen bytes with no complete message seen
 * (`Suspects.holding`): the answer when RSS is past MAX_RSS_BYTES and
 * naming alone cannot keep up, an endless message split over hundreds of
 * connections from hundreds of /24s, each far below its allowance
 * (an attack review: 10-36 aborted per incident of ~400, the process
 * killed at 1.86x MAX_RSS_BYTES). A client that sent a complete message
 * is not among them.
 *
 * Aborting frees what Deno collected; it strikes nobody. The caller
 * strikes only `suspects.struck`: a holding connection may be an honest
 * client's first message over 16 KiB in flight, and striking it (and its
 * fresh address's /24) would refuse it and its neighbours for 300 s after
 * two such incidents.
 *
 * @returns What was aborted, or undefined when there is nothing to sweep
 * or no abort.
 */
export function abortHolding(
  abort: SyncSocketAbort | undefined,
  suspects: Suspects,
): AttackersAborted | undefined {
  const peers = [
    ...new Set([
      ...suspects.over,
      ...suspects.split.over,
      ...suspects.holding.peers,
    ]),
  ];
  if (!abort || suspects.holding.peers.length === 0) return undefined;
  return abortPeers(abort, peers);
}

/** An abort by the thread, and what the main loop read once it turned. */
export interface ThreadIncident {
  abort: ThreadAbort;
  /** The kernel's count read now, if the watch was free to read it. */
  evidence: Suspects | undefined;
  /** Where the rest may be aborted (`incident_aborts.ts`). */
  socketAbort: SyncSocketAbort | undefined;
}

/**
 * The keys to strike at the thread's abort, and the connections aborted in
 * all: the thread took the one Deno was reading, and the rest of the
 * attack `evidence` names connection by connection is aborted now
 * (`abortAttackers`, or past MAX_RSS_BYTES `abortHolding`'s sweep), so the
 * incident takes
 * every attacking connection. `evidence.struck` is struck only when that
 * abort took all it tried (as `recycleFor`); the holding connections a
 * sweep aborts are never struck, the thread's (`ThreadAbort.swept`) no
 * more than the main loop's.
 */
export function restOfAttack(
  services: Connections,
  incident: ThreadIncident,
): { keys: string[]; aborted: number } {
  const { abort, evidence, socketAbort } = incident;
  const keys = new Set(abortedKeys(services, abort.peers));
  // Past MAX_RSS_BYTES connections holding unseen bytes go with the named
  // ones (`abortHolding`); on a held loop alone, or RSS rising toward it
  // (`ThreadAbort.rising`), only the named ones (the stall's `floods`,
  // `overload_attribution.ts`).
  const swept = abort.cause === "uncounted_memory" && !abort.rising &&
      evidence
    ? abortHolding(socketAbort, evidence)
    : undefined;
  const taken = swept ??
    (evidence && abortAttackers(services, socketAbort, evidence));
  if (taken && taken.short === undefined) {
    for (const key of evidence!.struck) keys.add(key);
  }
  return {
    keys: [...keys],
    aborted: abort.peers.length + (abort.swept?.length ?? 0) +
      (abort.unread?.length ?? 0) + (taken?.aborted ?? 0),
  };
}

/**
 * The keys an abort strikes: each aborted client's `keys`, and the network
 * (`keyNetwork`: its /24, or /48) of each address not struck before. An
 * attacker that takes a fresh address for every try never reaches two
 * strikes on one; its network does at its second incident, and is then
 * refused (`SuspectList.refusal`) to every address in it but those seen
 * exchanging messages. An address struck again adds nothing to its
 * network: one attacker is refused by its own address, its neighbours
 * untouched. Fresh addresses from many networks stay unattributed
 * (docs/limits.md#no-per-connection-count-of-reads).
 *
 * @example A second fresh address from one /24 strikes it again
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortStrikes } from "./incident_aborts.ts";
 * import { SuspectList } from "../admission/suspects.ts";
 * const suspects = new SuspectList();
 * const first = abortStrikes(["198.51.100.7"], suspects);
 * assert.deepEqual(first, ["198.51.100.7", "198.51.100.0/24"]);
 * suspects.strike(first);
 * assert.deepEqual(abortStrikes(["198.51.100.7"], suspects), ["198.51.100.7"]);
 * const [, network] = suspects.strike(abortStrikes(["198.51.100.8"], suspects));
 * assert.deepEqual(network, { key: "198.51.100.0/24", strikes: 0, refusedForSeconds: 300 });
 * ```
 */
export function abortStrikes(
  keys: readonly string[],
  suspects: Pick<SuspectList, "struckBefore">,
): string[] {
  const struck = new Set(keys);
  for (const key of keys) {
    const network = keyNetwork(key);
    if (network !== key && !suspects.struckBefore(key)) struck.add(network);
  }
  return [...struck];
}
