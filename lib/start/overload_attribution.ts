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
 * An idle client (one that never sends and is sent nothing: a listener
 * waiting for a close, a monitoring connection) is silent like an
 * attacker, and nothing Deno shows tells them apart: which connection the
 * fragments or frames arrive on is below the app. What the app can see is
 * when: a silent connection that was open through a calm stretch (no
 * uncounted growth, no late or busy loop of the process's own doing:
 * `OverloadSignals.calmSince`) was there before the trouble began, so the
 * trouble began without it. It is not struck, and its address, struck by
 * nothing else at this incident, is vouched for like one seen exchanging
 * messages; a vouched address's silent connections, its reconnection
 * after a recycle included, are spared at the next incidents. A silent
 * client that connects while an attack is under way stays a suspect: the
 * README's "On the public internet" states that trade-off.
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
  /**
   * When the latest calm stretch began (ms since epoch): a silent
   * connection opened by then was open through it. @default -Infinity
   */
  calmSince?: number;
}

/** What {@link attribute} found. */
export interface Attribution {
  /** Distinct keys to strike. */
  struck: string[];
  /**
   * Distinct keys with a connection exchanging messages now, or with a
   * silent one open since before the trouble and not struck.
   */
  vouched: string[];
}

/**
 * Judges every connection at an incident.
 *
 * A connection flows when it has received a complete message or been sent
 * one (a `/stream` reader, a room member that only listens) and no close
 * of ours waits for its answer. A close unanswered for
 * {@link CLOSE_ANSWER_MS} is struck. A silent connection open since before
 * `calmSince` is not. Any other silent one is struck unless its address was
 * vouched for at an earlier incident, or, when it is younger than
 * `settledAt` (no turn of the loop to show flow), unless another of its
 * address's connections flows now.
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
  const struck = new Set<string>();
  const silent = new Set<string>();
  const unsure = new Set<string>();
  const flowing = new Set<string>();
  const before = new Set<string>();
  const answerBy = clock.now - CLOSE_ANSWER_MS;
  const calmSince = clock.calmSince ?? -Infinity;
  for (const [activity, key] of connections) {
    // A listen-only member of a quiet room is silent like an attacker; a
    // room is no way to hold the loop (its messages are counted and limited).
    if (!activity || activity.roomMember) continue;
    const closingSince = activity.closingSince;
    if (closingSince === undefined) {
      if (activity.messages > 0 || activity.sent > 0) flowing.add(key);
      else if (activity.startedAt <= calmSince) before.add(key);
      else if (activity.startedAt <= clock.settledAt) silent.add(key);
      else unsure.add(key);
    } else if (closingSince < answerBy) struck.add(key);
    else unsure.add(key);
  }
  for (const key of silent) {
    if (!clock.vouched(key)) struck.add(key);
  }
  for (const key of unsure) {
    if (!flowing.has(key) && !clock.vouched(key)) struck.add(key);
  }
  for (const key of before) {
    if (!struck.has(key)) flowing.add(key);
  }
  return { struck: [...struck], vouched: [...flowing] };
}
