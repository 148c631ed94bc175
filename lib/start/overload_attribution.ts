/**
 * Who is struck at an overload incident, with no I/O: the overload watch
 * hands in every connection's activity and its client key, and gets back
 * the keys to strike and the keys seen exchanging messages (vouched for).
 *
 * Deno shows the app nothing of what holds it (fragments being collected,
 * control frames), so a suspect is a connection that has shown no flow:
 * nothing received and nothing sent, or a close this service started and
 * the client has not answered. What the app cannot tell apart is a
 * connection opened just before the event loop was held: the attacker's
 * (on a quiet machine an endless fragmented message trips the watch within
 * one sample of its upgrade: the fragments test's attacker escaped that
 * way) and a bystander's that reconnected at that moment and whose first
 * message the held loop has not delivered (a bystander was refused 14
 * times with four attackers, `deno task soak --overload`). Such a young
 * connection is struck only when its address has not been seen exchanging
 * messages (`SuspectList.vouch`): the bystander has, the attacker
 * has not.
 *
 * @module
 */
import type { Activity } from "../admission/slots.ts";

/** A client that has not answered a close within this is silent, in ms. */
export const CLOSE_ANSWER_MS = 1000;

/** The moment that makes a connection old enough to judge. */
export interface AttributionClock {
  /** Now, in ms since epoch. */
  now: number;
  /**
   * When the watch sampled before the one that found the incident (ms since
   * epoch): a connection opened after it may have had no turn of the loop
   * to deliver its first message.
   */
  settledAt: number;
  /** True when `key` was vouched for recently (an earlier incident). */
  vouched: (key: string) => boolean;
}

/** What {@link attribute} found. */
export interface Attribution {
  /** Distinct keys to strike. */
  struck: string[];
  /** Distinct keys with a connection exchanging messages now. */
  vouched: string[];
}

/**
 * Judges every connection at an incident.
 *
 * A connection flows when it has received a complete message or been sent
 * one (a `/stream` reader, a room member that only listens) and no close
 * of ours waits for its answer. Otherwise it is silent: struck when it has
 * had a turn of the loop to show flow (opened before `settledAt`) or its
 * close has been unanswered for {@link CLOSE_ANSWER_MS}; otherwise struck
 * only if its address is vouched for by none of its connections, now or at
 * an earlier incident.
 *
 * A room member is never judged (one in a quiet room is sent nothing), nor
 * is a request still waiting out its `open_delay=` (not a connection yet:
 * the watch reads only connections whose socket was made).
 *
 * @param connections Each connection's activity (undefined: never a
 * suspect, e.g. `/sse`) and its client key.
 *
 * @example A young silent connection is struck unless its address is vouched for
 * ```ts
 * import assert from "node:assert/strict";
 * import { attribute } from "./overload_attribution.ts";
 * const young = { opened: true, startedAt: 900, messages: 0, sent: 0, lastMessageAt: 900, closingSince: undefined, roomMember: false };
 * const echoing = { ...young, startedAt: 0, messages: 5, sent: 5 };
 * const found = attribute(
 *   [[young, "127.0.0.2"], [young, "127.0.0.3"], [echoing, "127.0.0.3"]],
 *   { now: 1000, settledAt: 800, vouched: () => false },
 * );
 * assert.deepEqual(found, { struck: ["127.0.0.2"], vouched: ["127.0.0.3"] });
 * ```
 */
export function attribute(
  connections: Iterable<[Activity | undefined, string]>,
  clock: AttributionClock,
): Attribution {
  const certain = new Set<string>();
  const unsure = new Set<string>();
  const flowing = new Set<string>();
  const answerBy = clock.now - CLOSE_ANSWER_MS;
  for (const [activity, key] of connections) {
    // A listen-only member of a quiet room is silent like an attacker; a
    // room is no way to hold the loop (its messages are counted and limited).
    if (!activity || activity.roomMember) continue;
    const closingSince = activity.closingSince;
    if (closingSince === undefined) {
      if (activity.messages > 0 || activity.sent > 0) flowing.add(key);
      else if (activity.startedAt <= clock.settledAt) certain.add(key);
      else unsure.add(key);
    } else if (closingSince < answerBy) certain.add(key);
    else unsure.add(key);
  }
  for (const key of unsure) {
    if (!flowing.has(key) && !clock.vouched(key)) certain.add(key);
  }
  return { struck: [...certain], vouched: [...flowing] };
}
