/**
 * What the main loop makes of an abort by the RSS watchdog thread
 * (`watchdog_thread.ts`): the clients whose connections it aborted, to be
 * struck like any attacker (`suspects.ts`: two strikes with no vouching
 * between refuse the address), and the incident's record. Split from
 * `overload_watch.ts`, which reports it when the loop turns.
 *
 * @module
 */
import type { IncidentRecord, Services } from "../services.ts";
import { clientKey } from "../admission/client_ip.ts";
import { peerKey } from "./socket_bytes.ts";
import { SPLIT_CONNECTION_BYTES } from "./overload_attribution.ts";
import type { ThreadAbort } from "./watchdog_orders.ts";
import type { SuspectList } from "../admission/suspects.ts";

/** The reason an abort's incident line gives. */
export const ABORTED_REASON =
  "Deno held the event loop collecting what no message counts while RSS passed MAX_RSS_BYTES: the RSS watchdog thread aborted the connections it was reading from (ss -K)";

/**
 * The client keys of the aborted connections: the key its connection was
 * admitted under, found by peer among the open connections; else, when
 * the peer is the client itself (no TRUST_PROXY), the key of its address.
 * Behind a proxy an unknown peer is the proxy's: not struck.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortedKeys } from "./thread_aborts.ts";
 * const services = {
 *   registry: { connections: () => [] },
 *   config: { trustProxy: 0, ipv6PrefixLength: 64 },
 * };
 * const peers = [{ hostname: "127.0.0.2", port: 5 }, { hostname: "127.0.0.2", port: 6 }];
 * assert.deepEqual(abortedKeys(services, peers), ["127.0.0.2"]);
 * ```
 */
export function abortedKeys(
  services: {
    registry: Pick<Services["registry"], "connections">;
    config: Pick<Services["config"], "trustProxy" | "ipv6PrefixLength">;
  },
  peers: ThreadAbort["peers"],
): string[] {
  const byPeer = new Map<string, string>();
  for (const [connection, key] of services.registry.connections()) {
    const peer = connection.activity?.().peer;
    if (peer) byPeer.set(peerKey(peer.hostname, peer.port), key);
  }
  const keys = new Set<string>();
  for (const { hostname, port } of peers) {
    const key = byPeer.get(peerKey(hostname, port)) ??
      (services.config.trustProxy === 0
        ? clientKey(hostname, services.config.ipv6PrefixLength)
        : undefined);
    if (key !== undefined) keys.add(key);
  }
  return [...keys];
}

/**
 * The client keys of the connections the thread's sweep aborted
 * ({@link ThreadAbort.swept}) that were struck before and not vouched for
 * since (`SuspectList.struckBefore`), read before this abort strikes. A
 * sweep strikes nobody, as one of its connections may be an honest
 * client's first message in flight; a client struck at an earlier
 * incident and back holding unseen bytes with no complete message is on
 * its next try. Endless fragments from four addresses on a quiet machine
 * (`deno task soak --overload`, load 0.7): two attackers' later tries were
 * taken by the sweep alone, never struck, and their third try was
 * admitted (issue #20).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweptAgain } from "./thread_aborts.ts";
 * const services = {
 *   registry: { connections: () => [] },
 *   config: { trustProxy: 0, ipv6PrefixLength: 64 },
 *   suspects: { struckBefore: (key: string) => key === "127.0.0.2" },
 * };
 * const swept = [{ hostname: "127.0.0.2", port: 5 }, { hostname: "127.0.0.3", port: 6 }];
 * assert.deepEqual(sweptAgain(services, { swept }), ["127.0.0.2"]);
 * ```
 */
export function sweptAgain(
  services: Parameters<typeof abortedKeys>[0] & {
    suspects: Pick<SuspectList, "struckBefore">;
  },
  abort: Pick<ThreadAbort, "swept">,
): string[] {
  if (!abort.swept?.length) return [];
  return abortedKeys(services, abort.swept).filter((key) =>
    services.suspects.struckBefore(key)
  );
}

/**
 * The reason an abort of the surge rule gives (`ThreadAbort.rising`):
 * RSS rose too fast to wait for a held loop, and the connections taken
 * were each read more than one message beyond what the app saw.
 */
export const RISING_ABORTED_REASON =
  "RSS rose toward MAX_RSS_BYTES faster than any message counts: the RSS watchdog thread aborted this process's connections read more than MAX_MESSAGE_BYTES beyond the payload the app saw (ss -K), without waiting for a held loop";

/** The reason an abort on a held loop alone gives (`FLOOD_HELD_MS`). */
export const HELD_ABORTED_REASON =
  "Deno held the event loop reading frames no message handler sees (a flood of pongs or empty frames) past FLOOD_HELD_MS: the RSS watchdog thread aborted this process's connections it was reading from (ss -K)";

/**
 * What an abort's reason adds when the thread swept too
 * (`ThreadAbort.swept`).
 */
export const THREAD_SWEEP_REASON =
  `with the loop held it also swept this process's connections holding over ${
    SPLIT_CONNECTION_BYTES / 1024
  } KiB the app never saw and no complete message (aborted, struck only where struck before)`;

/**
 * What an abort's reason says when the thread took connections that do not
 * read (`ThreadAbort.unread`).
 */
export const THREAD_UNREAD_REASON =
  "nothing was read from, so it aborted this process's connections whose kernel send queue stayed full (they do not read what it sends; not struck)";

/** Fills in what the thread saw into an incident's `record`. */
export function withThreadAbort(
  record: IncidentRecord,
  abort: ThreadAbort,
): IncidentRecord {
  record.rssBytes = abort.rssBytes;
  record.eventLoopHeldMs = abort.heldMs;
  record.aborted = abort.peers.length + (abort.swept?.length ?? 0) +
    (abort.unread?.length ?? 0);
  record.reason = abort.rising
    ? RISING_ABORTED_REASON
    : abort.cause === "event_loop_stall"
    ? HELD_ABORTED_REASON
    : [
      ABORTED_REASON,
      ...abort.swept ? [THREAD_SWEEP_REASON] : [],
      ...abort.unread ? [THREAD_UNREAD_REASON] : [],
    ].join("; ");
  return record;
}
