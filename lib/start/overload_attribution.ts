/**
 * Who is struck at an overload incident, with no I/O: the overload watch
 * hands in every connection's activity and its client key (and, where the
 * OS can tell, the bytes the kernel counted on each connection), and gets
 * back the keys to strike and the keys seen exchanging messages (vouched
 * for).
 *
 * **The kernel's count, first.** Deno reads what holds the process
 * (fragments being collected, pongs, empty frames) without showing the app
 * any of it, but the kernel counts every byte each TCP connection brought
 * (`socket_bytes.ts`). What the process read on a connection minus the
 * payload the app counted is what the app never saw: for a client that
 * sends messages, frame headers (at most 14 bytes each, more under TLS),
 * pings and the handshake; for an attacker, the attack (tens to hundreds
 * of MiB by the time an incident trips). A connection past
 * {@link unseenAllowance} is struck whatever it sent before (one message
 * made an attacker immune when "flowing" meant "ever sent one": issue #20),
 * a room member included; one the kernel counted under it is not struck,
 * silent or not (an idle client that connected during the attack
 * included), but what it brought past {@link SPLIT_CONNECTION_BYTES} counts
 * toward its address's and network's totals: an attack split across
 * connections that each stay under the allowance (32 connections x 1.9 MiB
 * of an endless message from one address; empty frames from a fresh address
 * per connection) is struck by address, or by network (`keyNetwork`).
 * Where the count was read, a connection it does not cover (opened after
 * it began, or gone from it: its client closed it) is not struck: a
 * newcomer brought nothing (one was struck in the attacker's place, issue
 * #20). Only without a reading (`ss` unavailable, no peer known) is a
 * connection judged by timing.
 *
 * **Timing, where the OS cannot tell.** A suspect is a connection that
 * has shown no flow since the trouble began (`troubleSince`: the last
 * sample before the troubled ones since the latest calm one,
 * `OverloadSignals`), give or take {@link FLOW_SLACK_MS}: no complete
 * message received or sent since then, or a close this service started
 * and the client has not answered. A held loop delivers no message during
 * the trouble, so a reading bystander's last echo is from just before it,
 * and so is an attacker's "hi" sent right before its attack: timing tells
 * them apart only when the attacker paused longer than the slack. A silent
 * connection open through the latest calm stretch (`calmSince`) was there
 * before the trouble began: it is not struck, and its address, struck by
 * nothing else at this incident, is vouched for like one seen exchanging
 * messages; a vouched address's silent connections, its reconnection after
 * a recycle included, are spared at the next incidents. A connection
 * opened just before the event loop was held (younger than `settledAt`: no
 * turn to deliver its first message) is struck only when its address has
 * not been vouched for and none of its address's connections flows.
 *
 * What timing cannot tell apart (docs/public-internet.md#attribution): an
 * attacker whose last message came less than {@link FLOW_SLACK_MS} before
 * its attack and a client exchanging messages; a client that connects
 * during an attack and stays silent, or connected after the calm stretch
 * and sent its last message longer ago, and the attacker (struck alike);
 * an attacker that connected and idled through a calm stretch before
 * attacking and an old idle client (spared alike).
 *
 * @module
 */
import type { Activity } from "../admission/slots.ts";
import { SplitTotals } from "./split_totals.ts";
import { peerKey } from "./socket_bytes.ts";

/** A client that has not answered a close within this is silent, in ms. */
export const CLOSE_ANSWER_MS = 1000;

/**
 * What a client may send that the app never sees, beyond one message in
 * flight (fragments Deno is still collecting, or in the read buffer):
 * `bytes` once (the handshake, a close, pings), `perMessage` for each
 * complete message (a frame header is 2-14 bytes, a TLS record adds up to
 * ~30), `perSecond` of the connection's age (pings: Deno's answer-only
 * pongs, a client library's keep-alive), and `ofPayload` of the payload it
 * sent (TLS records of 16 KiB each, a fragmented message's headers).
 * Attacks are far past it: an endless fragmented message sends 100-400
 * MiB/s, a pong flood 20-200 MiB/s, an empty-frame flood 6-88 MiB/s (load
 * average 15 to a quiet core, issue #20).
 */
export const UNSEEN_ALLOWANCE = {
  bytes: 1024 * 1024,
  perMessage: 64,
  perSecond: 64,
  ofPayload: 1 / 64,
} as const;

/**
 * How long before the trouble a message still shows flow, in ms: a client
 * that exchanges a message at least once a second up to the trouble flows
 * (a held loop delivers nothing during the trouble: a reading bystander's
 * echoes stop with the attacker's, and the bystander was struck at every
 * incident without this), while one that sent its last message longer ago
 * does not (an attacker that sent "hi", paused, then attacked).
 */
export const FLOW_SLACK_MS = 1000;

/**
 * What one connection may bring beyond its rates ({@link UNSEEN_ALLOWANCE}'s
 * `perMessage`, `perSecond`, `ofPayload`) before the rest counts toward
 * its address's and network's totals ({@link attribute}): the handshake,
 * a close and a few pings, in bytes.
 */
export const SPLIT_CONNECTION_BYTES = 16 * 1024;

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
   * What `key` (an address or a network) brought past its connections'
   * allowances and the payload seen at recent readings that did not strike
   * it, in bytes (`SuspectList.brought`). @default none
   */
  brought?: (key: string) => number;
  /**
   * When `brought` was last added to (ms since epoch): a connection opened
   * before it was counted then, so only its growth counts again.
   * @default -Infinity
   */
  rememberedAt?: number;
  /**
   * When the latest calm stretch began (ms since epoch): a silent
   * connection opened by then was open through it. @default -Infinity
   */
  calmSince?: number;
  /**
   * When the trouble began (ms since epoch): only a message received or
   * sent after it, or {@link FLOW_SLACK_MS} before it, shows flow.
   * @default -Infinity (any message ever)
   */
  troubleSince?: number;
}

/** The kernel's count of what the process read on each connection. */
export interface KernelCount {
  /** Bytes read per peer (`socket_bytes.ts` `peerKey`). */
  bytes: Map<string, number>;
  /**
   * When the reading began (ms since epoch): a connection opened after it
   * is not in it (its peer may have been another connection's).
   */
  at: number;
  /**
   * The largest message a client may be sending: MAX_MESSAGE_BYTES (Deno
   * delivers nothing of it until it is complete).
   */
  inFlightBytes: number;
  /**
   * Peers still sending (`socket_bytes.ts` `SENDING_MS`): each may be in the
   * middle of a message that completes, so one message in flight of theirs
   * is not added to the totals. @default none
   */
  sending?: ReadonlySet<string>;
  /**
   * The incident is a held loop (`event_loop_stall`): a connection that
   * does not flow (no complete message within {@link FLOW_SLACK_MS} before
   * the trouble) and brought more than {@link STALL_FLOOD_BYTES} (plus its
   * rates) and more than all the payload the app saw from it is flooding,
   * with no message in flight spared ({@link floods}). @default false
   */
  stall?: boolean;
}

/**
 * What a connection may bring at a held loop, beyond its rates
 * ({@link UNSEEN_ALLOWANCE}'s `perMessage`, `perSecond`, `ofPayload`),
 * before it is taken as flooding when that is also more than all the
 * payload the app saw from it, in bytes. A flood of frames Deno answers
 * itself (pongs, empty continuations) split over 32 connections from 32
 * /24s left each under one connection's allowance (a message in flight plus
 * 1 MiB): each stall incident aborted 1-8 of them, and the loop stayed held
 * (bystander's worst gap 9-23 s in an attack review's pong and
 * empty-fragment floods).
 */
export const STALL_FLOOD_BYTES = 64 * 1024;

/**
 * True when, at a held loop, `over` bytes the app never saw on
 * `activity`'s connection are a flood: past {@link STALL_FLOOD_BYTES} and
 * its rates, and past every byte of payload the app saw from it (a
 * flooder's "hi" is a few bytes). {@link attribute} asks only of a
 * connection that does not flow: a client exchanging complete messages
 * up to the trouble may have a message in flight far larger than all it
 * sent before (10 messages of 100 B, then 200 KiB), and is judged by
 * {@link unseenAllowance} alone.
 */
export function floods(activity: Activity, over: number, now: number): boolean {
  return over > STALL_FLOOD_BYTES + rates(activity, now) &&
    over > activity.bytesIn;
}

/**
 * What `activity`'s connection may bring for what it did, in bytes:
 * {@link UNSEEN_ALLOWANCE}'s `perMessage` per message, `perSecond` per
 * second open, `ofPayload` of the payload the app saw. The one place for
 * the rates {@link floods}, {@link unseenAllowance} and `splitAllowance`
 * add to their base.
 */
function rates(activity: Activity, now: number): number {
  const ageSeconds = Math.max(0, now - activity.startedAt) / 1000;
  return UNSEEN_ALLOWANCE.perMessage * activity.messages +
    UNSEEN_ALLOWANCE.perSecond * ageSeconds +
    UNSEEN_ALLOWANCE.ofPayload * activity.bytesIn;
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
  /**
   * Per key struck on the kernel's count, the most bytes one of its
   * connections brought that the app never saw.
   */
  unseen: Record<string, number>;
  /**
   * The connections struck on the kernel's count, each past its own
   * allowance: what aborting them (`ss -K`) takes from the attack.
   */
  over: Deno.NetAddr[];
  /**
   * The keys (addresses, networks) struck on their split totals
   * ({@link SplitTotals}), and their connections that brought part of it:
   * what aborting them takes from an attack split below each connection's
   * allowance: every connection of an address struck, and of a network
   * struck those that brought anything past their split allowance, still
   * sending or not (the key is struck on what they brought past a message
   * in flight each).
   */
  split: { keys: string[]; over: Deno.NetAddr[] };
  /**
   * Connections holding unseen bytes: not past their own allowance, but
   * the kernel counted more than {@link SPLIT_CONNECTION_BYTES} on them
   * and the app has had no complete message from them (a message in
   * flight, or an endless one), with their keys. What a sweep takes when
   * naming fell short (`incident_aborts.ts` `abortHolding`); a client that
   * sent a complete message is never among them.
   */
  holding: { keys: string[]; peers: Deno.NetAddr[] };
  /** Connections the kernel's count did not cover: judged by timing. */
  timed: number;
  /**
   * Per address and network not struck, what this reading showed it
   * brought past its connections' allowances and the payload seen, in
   * bytes: remembered for the next readings (`BroughtBytes.remember`).
   */
  brought: Record<string, number>;
  /**
   * Addresses and networks not struck that would be, were their
   * connections still sending quiet: the message in flight each was spared
   * may be honest (a non-reader's first 1 MiB) or an attacker's last
   * fragments; a second reading tells (`incident_suspects.ts`).
   */
  pending: string[];
}

/**
 * The bytes `activity`'s connection may have brought that the app never
 * saw ({@link UNSEEN_ALLOWANCE} plus one message in flight).
 */
export function unseenAllowance(
  activity: Activity,
  inFlightBytes: number,
  now: number,
): number {
  return inFlightBytes + UNSEEN_ALLOWANCE.bytes + rates(activity, now);
}

/**
 * Judges every connection at an incident.
 *
 * A close unanswered for {@link CLOSE_ANSWER_MS} is struck. Then, where
 * `kernel` covers the connection (its peer is in the reading, and it was
 * open when the reading began): struck when the bytes the process read on
 * it minus the payload the app counted exceed {@link unseenAllowance}, or
 * at a held loop when it does not flow and {@link floods}, not struck
 * otherwise; the rest of its address's connections too when they
 * brought together more than one connection's allowance past
 * {@link SPLIT_CONNECTION_BYTES} each (and past a message in flight, for
 * one still sending: {@link KernelCount.sending}; a key past it only with
 * those is `pending`), and more than the app saw from them; a network's
 * addresses not struck, past `SPLIT_NETWORK_SHARE` (`split_totals.ts`) times it, strike
 * the network's key. A struck key is never vouched for. With a
 * reading, a connection it does not cover is not struck. Without one, by
 * timing: a connection flows when it has
 * received or been sent a complete message since `troubleSince` (a
 * `/stream` reader, a room member that listens), or within
 * {@link FLOW_SLACK_MS} before it (a held loop delivers nothing during the
 * trouble), and no close of ours waits for its answer. A silent connection
 * open since before `calmSince` is not struck. Any other silent one is
 * struck unless its address was vouched for at an earlier incident, or, when it is younger than `settledAt` (no
 * turn of the loop to show flow), unless another of its address's
 * connections flows now.
 *
 * Room members are judged like anyone (a member of a quiet room connected
 * before the trouble is spared by `calmSince`). A request still waiting
 * out its `open_delay=` is not a connection yet: the watch reads only
 * connections whose socket was made.
 *
 * @param connections Each connection's activity (undefined: never a
 * suspect, e.g. `/sse`) and its client key.
 * @param kernel The kernel's count, when it could be read.
 *
 * @example The kernel shows an attacker that sent one message
 * ```ts
 * import assert from "node:assert/strict";
 * import { attribute } from "./overload_attribution.ts";
 * const peer = (port: number) => ({ transport: "tcp" as const, hostname: "127.0.0.1", port });
 * const base = { opened: true, startedAt: 0, lastMessageAt: 900, closingSince: undefined };
 * const attacker = { ...base, messages: 1, sent: 1, bytesIn: 2, peer: peer(40000) };
 * const echoing = { ...base, messages: 50, sent: 50, bytesIn: 500, peer: peer(40001) };
 * const found = attribute(
 *   [[attacker, "127.0.0.2"], [echoing, "127.0.0.3"]],
 *   { now: 1000, settledAt: 800, vouched: () => false },
 *   {
 *     bytes: new Map([["127.0.0.1:40000", 300 * 2 ** 20], ["127.0.0.1:40001", 1100]]),
 *     at: 1000,
 *     inFlightBytes: 2 ** 20,
 *   },
 * );
 * assert.deepEqual(found.struck, ["127.0.0.2"]);
 * assert.deepEqual(found.vouched, ["127.0.0.3"]);
 * ```
 */
export function attribute(
  connections: Iterable<[Activity | undefined, string]>,
  clock: AttributionClock,
  kernel?: KernelCount,
): Attribution {
  const struck = new Set<string>();
  const unseen: Record<string, number> = {};
  const silent = new Set<string>();
  const unsure = new Set<string>();
  const flowing = new Set<string>();
  const before = new Set<string>();
  const answerBy = clock.now - CLOSE_ANSWER_MS;
  const calmSince = clock.calmSince ?? -Infinity;
  const flowSince = (clock.troubleSince ?? -Infinity) - FLOW_SLACK_MS;
  let timed = 0;
  const split = new SplitTotals();
  const overPeers: Deno.NetAddr[] = [];
  const holding: Attribution["holding"] = { keys: [], peers: [] };
  for (const [activity, key] of connections) {
    if (!activity) continue;
    const peer = kernel ? peerOf(kernel, activity) : undefined;
    const counted = peer === undefined ? undefined : kernel!.bytes.get(peer);
    const over = counted === undefined ? 0 : counted - activity.bytesIn;
    // Past the allowance whatever else it did, a close left unanswered too.
    // Closing, Deno reads one more message it never delivers (failing a
    // client past a limit at its next frame): twice the message in flight.
    const inFlight = (kernel?.inFlightBytes ?? 0) *
      (activity.closingSince === undefined ? 1 : 2);
    const flows = (activity.messages > 0 || activity.sent > 0) &&
      activity.lastMessageAt >= flowSince;
    if (
      counted !== undefined &&
      (over > unseenAllowance(activity, inFlight, clock.now) ||
        (kernel!.stall === true && !flows &&
          floods(activity, over, clock.now)))
    ) {
      struck.add(key);
      unseen[key] = Math.max(unseen[key] ?? 0, over);
      overPeers.push(activity.peer!);
      continue;
    }
    const closingSince = activity.closingSince;
    if (closingSince !== undefined && closingSince < answerBy) {
      struck.add(key);
      continue;
    }
    if (counted !== undefined) {
      if (flows) flowing.add(key);
      if (
        activity.messages === 0 && activity.peer &&
        over > SPLIT_CONNECTION_BYTES
      ) {
        holding.keys.push(key);
        holding.peers.push(activity.peer);
      }
      split.add(key, activity, {
        beyond: over - splitAllowance(activity, clock.now),
        spare: kernel!.sending?.has(peer!) ? kernel!.inFlightBytes : 0,
        fresh: activity.startedAt > (clock.rememberedAt ?? -Infinity),
      });
      continue;
    }
    // Covered by the reading but gone from it (closed by its client), or
    // opened since it began: it brought nothing the count could show, and
    // a newcomer must not be struck for an attack it came in the middle of.
    if (kernel && activity.peer) continue;
    timed++;
    if (closingSince !== undefined) unsure.add(key);
    else if (flows) flowing.add(key);
    else if (activity.startedAt <= calmSince) before.add(key);
    else if (activity.startedAt <= clock.settledAt) silent.add(key);
    else unsure.add(key);
  }
  const brought: Record<string, number> = {};
  let pending: string[] = [];
  const splitStruck: Attribution["split"] = { keys: [], over: [] };
  if (kernel) {
    const one = kernel.inFlightBytes + UNSEEN_ALLOWANCE.bytes;
    const found = split.over(one, struck, clock.brought ?? (() => 0));
    for (const [key, total] of found.struck) {
      struck.add(key);
      unseen[key] = total;
      splitStruck.keys.push(key);
    }
    splitStruck.over = found.peers;
    Object.assign(brought, found.brought);
    pending = found.pending;
    // Messages vouch only for an address that brought no more unseen past
    // its connections' split allowances than the app saw from them: a
    // split attacker's "hi" on each connection, under the line at a
    // reading, vouched for it, which cleared its strike and exempted it
    // from its /24's refusal (four split attackers at once: one still
    // upgraded at its third try, issue #20).
    for (const key of flowing) {
      if (split.unseenPastSeen(key)) flowing.delete(key);
    }
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
  for (const key of struck) flowing.delete(key);
  return {
    struck: [...struck],
    vouched: [...flowing],
    unseen,
    over: overPeers,
    split: splitStruck,
    holding,
    timed,
    brought,
    pending,
  };
}

/**
 * What `activity`'s connection may bring before the rest counts toward its
 * address's total: {@link SPLIT_CONNECTION_BYTES} plus its rates, with no
 * message in flight (its address gets one, {@link attribute}).
 */
function splitAllowance(activity: Activity, now: number): number {
  return SPLIT_CONNECTION_BYTES + rates(activity, now);
}

/**
 * `activity`'s peer as the reading's key, or undefined when the reading
 * cannot cover it (no peer known, or opened after the reading began).
 */
function peerOf(kernel: KernelCount, activity: Activity): string | undefined {
  const peer = activity.peer;
  if (!peer || activity.startedAt > kernel.at) return undefined;
  return peerKey(peer.hostname, peer.port);
}
