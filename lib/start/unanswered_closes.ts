/**
 * When closes the clients never answered make an `unanswered_closes`
 * incident: the one rule, for the overload watch.
 *
 * A close the server starts (`Goodbye`, a breach, the idle timeout) and the
 * client never answers is given up after CLOSE_TIMEOUT_SECONDS (logged
 * 1006), but Deno has no close timeout: the socket, and its descriptor, stay
 * until the peer leaves or the listener is recycled (the Deno.serve
 * server's abort cancels every pending read). Given-up closes are not open
 * connections, so nothing else counts them.
 *
 * @module
 */
import { LEAK_TRIP } from "./upgrade_leaks.ts";
import type { Services } from "../services.ts";

/**
 * Share of the descriptors the clients hold that given-up closes may hold
 * before the listener is recycled. It was a tenth of MAX_CONNECTIONS, which
 * under the tasks stays at its default 10,000 (Deno reads the open-file
 * limit only with `--allow-all`, `fd_limit.ts`): 1,000, unreachable under
 * `prlimit --nofile=256:256`, where 231 clients that sent `Goodbye` and never
 * answered held every descriptor and every new client was refused for as
 * long as they stayed (attack review, s20c). Taken of what the clients hold
 * instead, it scales with whatever bounds the process (the open-file limit,
 * MAX_CONNECTIONS, memory) without knowing which: the share the clients
 * hold is at most their share of any of those limits, so it trips no later
 * than a tenth of MAX_CONNECTIONS did.
 */
export const UNANSWERED_TRIP_SHARE = 0.1;

/**
 * Fewest given-up closes that make an incident, however few clients there
 * are (the same floor as leaked upgrades). A client that vanished after our
 * close (a laptop asleep, a phone out of coverage) is given up too, and goes
 * by itself once TCP gives up on it; sixteen at once is a client sending
 * `Goodbye` and never answering. Clients slow to answer for a moment are
 * never counted: a close is given up only after CLOSE_TIMEOUT_SECONDS (10).
 */
export const UNANSWERED_TRIP_FLOOR = LEAK_TRIP;

/** What the watch knows of the clients' descriptors at one sample. */
export interface ClientHolds {
  /** Closes given up that still hold their socket. */
  unanswered: number;
  /** WebSockets open and `/sse` streams open: one descriptor each. */
  open: number;
}

/**
 * Why the listener must be recycled for the given-up closes, or undefined
 * while it need not: they number at least {@link UNANSWERED_TRIP_FLOOR} and
 * {@link UNANSWERED_TRIP_SHARE} of what the clients hold (`open` plus
 * themselves).
 *
 * @returns One sentence naming the figures, for the log line.
 * @example 231 given up, nothing else open: a recycle; 50 among 1,000 open: not
 * ```ts
 * import assert from "node:assert/strict";
 * import { unansweredTrip } from "./unanswered_closes.ts";
 * assert.match(unansweredTrip({ unanswered: 231, open: 0 })!, /100%/);
 * assert.equal(unansweredTrip({ unanswered: 50, open: 1000 }), undefined);
 * assert.equal(unansweredTrip({ unanswered: 15, open: 0 }), undefined);
 * ```
 */
export function unansweredTrip(holds: ClientHolds): string | undefined {
  const { unanswered, open } = holds;
  const held = unanswered + open;
  const trip = Math.max(
    UNANSWERED_TRIP_FLOOR,
    Math.ceil(held * UNANSWERED_TRIP_SHARE),
  );
  if (unanswered < trip) return undefined;
  return `${unanswered} closes never answered hold ` +
    `${Math.round((unanswered / held) * 100)}% of what clients hold ` +
    `(${open} connections and streams open); only a recycle frees them`;
}

/**
 * {@link unansweredTrip} for the service's counters now: the closes given
 * up, less those still being aborted through the kernel (`held_sockets.ts`:
 * they need no recycle), against the connections and streams open.
 */
export function unansweredNow(
  services: Pick<Services, "metrics" | "held">,
): string | undefined {
  const { metrics, held } = services;
  return unansweredTrip({
    unanswered: Math.max(0, metrics.closesUnanswered - (held?.pending ?? 0)),
    open: metrics.connectionsOpen + metrics.streamsOpen,
  });
}
