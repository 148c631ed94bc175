/**
 * The periodic kernel-count check: every {@link CHECK_EVERY_MS}, not only
 * at an overload incident, what each WebSocket connection of this process
 * has sent it (the kernel's count, `socket_bytes.ts`) is set against the
 * payload of the complete messages the app saw from it. Deno collects the
 * fragments of an unfinished message with no total cap and shows the app
 * nothing until its last frame, so one endless message sent slowly (~1
 * MB/s, an attack review) grows the process for as long as it lasts while the
 * overload watch, which acts at incidents (RSS growing fast, a held loop),
 * sees none; many such trickles add up. A connection past MAX_MESSAGE_BYTES
 * plus what a client may send that the app never sees
 * (`overload_attribution.ts` `unseenAllowance`: 1 MiB for the handshake,
 * pings and closes, frame headers per message and per second) is:
 *
 * 1. struck like the attackers of an incident (its address, and its /24
 *    or IPv6 prefix at its first strike: `incident_aborts.ts`
 *    `abortStrikes`), before anything it could reconnect on: its third
 *    try is refused (`suspects.ts`);
 * 2. closed with 1009, message too big (RFC 6455 7.4.1), counted in
 *    `limit_breaches_total{reason="message_size"}` and
 *    `kernel_check_closes_total`;
 * 3. aborted through the kernel (`ss -K`) {@link CLOSE_GRACE_MS} later if
 *    it is still open: `socket.close()` does not stop Deno collecting the
 *    fragments, a failed read does;
 * 4. logged in one line, `message_too_big`.
 *
 * An honest client's message in flight is at most MAX_MESSAGE_BYTES, so
 * it never reaches the line, however slowly it comes. A connection that
 * sent its unseen bytes faster than {@link WATCH_RATE_SHARE} of
 * MAX_RSS_BYTES per second (on average since it opened) is left to the
 * overload watch, which sees that growth and acts at its incidents: each
 * kind of attack has one place that handles it.
 *
 * **Per process, per worker.** `ss` lists every socket of the port; the
 * check judges only the connections of its own registry, so under `deno
 * serve --parallel` each worker checks its own (each runs its own `ss`).
 *
 * **Cost.** One `ss -tinH` in its own process: with 1,000 connections
 * 50-230 ms and 10-20 ms of CPU, with 10,000 540-1,050 ms and 80-140 ms of
 * CPU (load average 7-17 on 2 cores). Its output (about 360 bytes a
 * socket) is read and parsed a piece at a time, and only the sockets past
 * the smallest line (MAX_MESSAGE_BYTES plus 1 MiB) are kept and checked
 * (`SocketBytesReader.read`'s `atLeastBytes`): with up to 10,000 idle
 * sockets the parse took 0-86 ms of the loop per reading in pieces of at
 * most 64 KiB (it was 220-1,340 ms at once; load average 29-44), and 20
 * readings of 10,000 left a process holding them at 71-78 MiB (the whole
 * output collected and parsed: 65 -> 143 MiB; load average 5-29). A
 * reading may take {@link READING_TIMEOUT_MS}. So the check runs at any count up to
 * MAX_CONNECTIONS (it paused above 1,000 before: at 10,000 idle
 * connections its readings took RSS past MAX_RSS_BYTES, an attack
 * review), waiting {@link CHECK_EVERY_MS} and at least
 * {@link PARSE_SHARE_DIVISOR} times the last parse. Nothing runs while
 * this process has no WebSocket open. Measured with a trickle of 1.25
 * MB/s (`bench/attacks/trickle.py`, `deno task start`): before, RSS 60 ->
 * 131 MiB in 50 s and never closed; with the check, closed 1009 after
 * 2.7-3.3 s, RSS flat at 76 MiB; with the 1009 but no abort (no
 * CAP_NET_ADMIN) RSS still grew to 146 MiB by 49 s: the close alone does
 * not stop Deno collecting.
 *
 * **Where `ss` cannot be used** (not Linux, no iproute2, not permitted,
 * Deno Deploy, no netlink): the reading says why, the check logs it once
 * (`kernel_check_off`) and asks again only every
 * {@link UNAVAILABLE_RETRY_MS}; a trickle is then bounded only by the
 * overload watch (an RSS incident) and MAX_RSS_BYTES. Where `ss -K` may not
 * destroy sockets (no CAP_NET_ADMIN): the strike and the 1009 are made,
 * but Deno keeps collecting until the client stops, or an incident or an
 * unanswered-close recycle frees it; the log line says `aborted=0` and why.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";
import type { Activity, Closable } from "../admission/slots.ts";
import { limitClose } from "../limits.ts";
import type { Services } from "../services.ts";
import type { AbortAnswer, SocketAbort } from "../connection/held_sockets.ts";
import type { Strike } from "../admission/suspects.ts";
import { StruckConnections } from "../admission/same_try.ts";
import {
  CLOSE_ANSWER_MS,
  UNSEEN_ALLOWANCE,
  unseenAllowance,
} from "./overload_attribution.ts";
import { abortStrikes } from "./incident_aborts.ts";
import { peerKey, type SocketBytesReading } from "./socket_bytes.ts";
import type { PeerAcks } from "../connection/peer_acks.ts";
import { CALM_GROWTH_SHARE, WINDOW_MS } from "./overload_signals.ts";

/**
 * How often the check reads the kernel's count, at least, in ms: a trickle
 * of 1 MB/s adds 2 MB between two, and one `ss` with 1,000 connections open
 * costs 20-50 ms of CPU (see the module's cost).
 */
export const CHECK_EVERY_MS = 2000;

/**
 * The wait after a reading is at least this many times as long as its
 * parse held the event loop: the check takes at most a twentieth of it.
 */
export const PARSE_SHARE_DIVISOR = 20;

/**
 * How long a connection closed with 1009 has to go before it is aborted,
 * in ms: the close frame reaches a client that reads, and one that answers
 * is gone (`overload_attribution.ts` waits as long for an answer).
 */
export const CLOSE_GRACE_MS = CLOSE_ANSWER_MS;

/**
 * How long one reading may take, in ms: nothing waits on it (the parse
 * holds the loop one piece at a time), and with 6,500-10,000 connections
 * opening at load average 29 readings ran past the incident reader's 2 s
 * (`SOCKET_BYTES_TIMEOUT_MS`), so the check was off most of the time.
 */
export const READING_TIMEOUT_MS = 10_000;

/**
 * How long to wait before asking `ss` again once it could not be read, in
 * ms: longer than the period where it is missing or not permitted (a
 * failed spawn each time), short enough where it was only past its
 * deadline (10,000 connections on a loaded machine).
 */
export const UNAVAILABLE_RETRY_MS = 10_000;

/** What the check reads and acts on. */
export type CheckedServices = Pick<
  Services,
  "config" | "registry" | "suspects" | "metrics" | "log"
>;

/** Reads the kernel's count (`SocketBytesReader`, or a test's). */
export interface KernelCountSource {
  /**
   * `signal` stops the reading (the check is disposed); `atLeastBytes`:
   * peers that brought less may be left out.
   */
  read(
    signal?: AbortSignal,
    options?: { atLeastBytes?: number; timeoutMs?: number; queues?: boolean },
  ): Promise<SocketBytesReading>;
}

/**
 * The unseen bytes per second, averaged since the connection opened, from
 * which a connection is the overload watch's rather than this check's, as
 * a share of MAX_RSS_BYTES: the watch takes growth of `CALM_GROWTH_SHARE`
 * (2%) of it per `WINDOW_MS` (2 s) and more for trouble
 * (`overload_signals.ts`), and acts on it at its incidents (abort, recycle,
 * attribution of split attacks); what grows slower it never sees, and that
 * is this check's. 4 MiB/s at the default 400 MiB, 2.56 MiB/s at 256 MiB.
 */
export const WATCH_RATE_SHARE = CALM_GROWTH_SHARE / (WINDOW_MS / 1000);

/** Options for {@link KernelCountCheck}. */
export interface KernelCountCheckOptions {
  /** Reads the kernel's count of the listener's connections. */
  socketBytes: KernelCountSource;
  /** Aborts connections by peer (`SsSocketAbort`); none: close only. */
  socketAbort?: SocketAbort | undefined;
  /** @default {@link CHECK_EVERY_MS} */
  everyMs?: number;
  /**
   * Where each reading's Send-Q and `bytes_acked` per peer go too
   * (`peer_acks.ts`); none: not read.
   */
  acks?: Pick<PeerAcks, "update"> | undefined;
  /** @default {@link CLOSE_GRACE_MS} */
  graceMs?: number;
}

/** A connection {@link messagesTooBig} found past the line. */
export interface TooBig {
  connection: Closable;
  /** Its client key (address or IPv6 prefix). */
  key: string;
  activity: Activity;
  /** Bytes the kernel counted on it that the app never saw. */
  unseenBytes: number;
  /** What it may send unseen: one message in flight plus its allowance. */
  allowedBytes: number;
}

/**
 * The connections whose kernel count is past the payload the app saw from
 * them by more than one message of `maxMessageBytes` in flight (two once
 * this service is closing it: Deno reads one more it never delivers) plus
 * `unseenAllowance`, and sent it slower on average than
 * `watchFromBytesPerSecond` (faster: the overload watch's). A connection
 * with no peer, not open, or opened after the reading began (`at`, ms
 * since epoch: its peer may have been another connection's) is not judged.
 *
 * @example A trickle is past the line; an honest slow message is not
 * ```ts
 * import assert from "node:assert/strict";
 * import { messagesTooBig } from "./kernel_count_check.ts";
 * const MiB = 2 ** 20;
 * const at = (port: number, messages: number, bytesIn: number) => ({
 *   close() {},
 *   activity: () => ({
 *     opened: true, startedAt: 0, lastMessageAt: 0, closingSince: undefined,
 *     sent: messages, messages, bytesIn,
 *     peer: { transport: "tcp" as const, hostname: "127.0.0.2", port },
 *   }),
 * });
 * const trickle = at(1, 0, 0);
 * const honest = at(2, 40, 40 * 60_000);
 * const bytes = new Map([
 *   ["127.0.0.2:1", 64 * 1024 + 1.1 * MiB],
 *   ["127.0.0.2:2", 41 * 60_000 + 4000],
 * ]);
 * const found = messagesTooBig(
 *   [[trickle, "127.0.0.2"], [honest, "127.0.0.2"]],
 *   { bytes, at: 1000 },
 *   { maxMessageBytes: 64 * 1024, now: 1000 },
 * );
 * assert.deepEqual(found.map((one) => one.connection), [trickle]);
 * ```
 */
export function messagesTooBig(
  connections: Iterable<[Closable, string]>,
  reading: { bytes: ReadonlyMap<string, number>; at: number },
  limits: {
    maxMessageBytes: number;
    now: number;
    /**
     * Unseen bytes per second since the connection opened from which it is
     * left to the overload watch. @default Infinity
     */
    watchFromBytesPerSecond?: number;
  },
): TooBig[] {
  const watchFrom = limits.watchFromBytesPerSecond ?? Infinity;
  const found: TooBig[] = [];
  for (const [connection, key] of connections) {
    const activity = connection.activity?.();
    const peer = activity?.peer;
    if (!activity?.opened || !peer || activity.startedAt > reading.at) {
      continue;
    }
    const counted = reading.bytes.get(peerKey(peer.hostname, peer.port));
    if (counted === undefined) continue;
    const unseenBytes = counted - activity.bytesIn;
    const inFlight = limits.maxMessageBytes *
      (activity.closingSince === undefined ? 1 : 2);
    const allowedBytes = unseenAllowance(activity, inFlight, limits.now);
    const ageSeconds = Math.max(
      0.001,
      (limits.now - activity.startedAt) / 1000,
    );
    if (unseenBytes > allowedBytes && unseenBytes / ageSeconds < watchFrom) {
      found.push({ connection, key, activity, unseenBytes, allowedBytes });
    }
  }
  return found;
}

/**
 * Runs the check until {@link dispose}: one reading at a time, the next
 * {@link CHECK_EVERY_MS} (or {@link PARSE_SHARE_DIVISOR} times the last
 * parse) after the last one ended. Off when MAX_MESSAGE_BYTES is 0 (no
 * message is too big). Never throws: a failure is logged and the check
 * goes on.
 */
export class KernelCountCheck {
  readonly #services: CheckedServices;
  readonly #options: KernelCountCheckOptions;
  readonly #everyMs: number;
  /** Connections this check closed: judged once. */
  readonly #closed = new WeakSet<Closable>();
  /** The next reading, and the aborts due after a close's grace. */
  readonly #timers = new Set<Cancel>();
  /** Readings and aborts under way: awaited by {@link dispose}. */
  readonly #running = new Set<Promise<void>>();
  readonly #stop = new AbortController();
  /** `kernel_check_off` was logged. */
  #saidOff = false;

  constructor(services: CheckedServices, options: KernelCountCheckOptions) {
    this.#services = services;
    this.#options = options;
    this.#everyMs = options.everyMs ?? CHECK_EVERY_MS;
    if (services.config.maxMessageBytes > 0) {
      this.#later(this.#everyMs, this.#check);
    }
  }

  /**
   * Stops the check (shutdown, tests): no more readings, aborts or lines;
   * resolves once the `ss` under way, if any, has ended.
   */
  async dispose(): Promise<void> {
    this.#stop.abort();
    for (const cancel of this.#timers) cancel();
    this.#timers.clear();
    await Promise.all(this.#running);
  }

  /** Runs `task` in `ms`, unless disposed by then; a failure is logged. */
  #later(ms: number, task: () => Promise<void>): void {
    if (this.#stop.signal.aborted) return;
    const cancel = after(ms, () => {
      this.#timers.delete(cancel);
      if (this.#stop.signal.aborted) return;
      const running = task().catch((error) => {
        this.#services.log({ event: "error", message: String(error) });
        if (task === this.#check) this.#later(this.#everyMs, this.#check);
      }).finally(() => this.#running.delete(running));
      this.#running.add(running);
    });
    this.#timers.add(cancel);
  }

  #check = async (): Promise<void> => {
    const { registry, config } = this.#services;
    if (registry.openCount === 0) {
      return this.#later(this.#everyMs, this.#check);
    }
    const at = Date.now();
    const readAt = performance.now();
    const acks = this.#options.acks;
    // A count at or under one message in flight plus the allowance is
    // under every connection's line: left out of the reading.
    const reading = await this.#options.socketBytes.read(this.#stop.signal, {
      atLeastBytes: config.maxMessageBytes + UNSEEN_ALLOWANCE.bytes,
      timeoutMs: READING_TIMEOUT_MS,
      queues: acks !== undefined,
    });
    if (this.#stop.signal.aborted) return;
    if ("queues" in reading && reading.queues) {
      acks?.update(reading.queues, readAt);
    }
    if (!("bytes" in reading)) {
      if (!this.#saidOff) {
        this.#saidOff = true;
        this.#services.log({
          event: "kernel_check_off",
          reason: reading.unavailable,
          retryMs: UNAVAILABLE_RETRY_MS,
        });
      }
      return this.#later(UNAVAILABLE_RETRY_MS, this.#check);
    }
    const found = reading.bytes.size === 0
      ? []
      : messagesTooBig(registry.connections(), {
        bytes: reading.bytes,
        at,
      }, {
        maxMessageBytes: config.maxMessageBytes,
        now: Date.now(),
        watchFromBytesPerSecond: config.maxRssBytes > 0
          ? config.maxRssBytes * WATCH_RATE_SHARE
          : Infinity,
      })
        .filter((one) => !this.#closed.has(one.connection));
    if (found.length > 0) this.#act(found);
    this.#later(
      Math.max(this.#everyMs, (reading.parseMs ?? 0) * PARSE_SHARE_DIVISOR),
      this.#check,
    );
  };

  /** Strikes, closes with 1009, and aborts what is still open after the grace. */
  #act(found: TooBig[]): void {
    const { suspects, metrics, config } = this.#services;
    // A new try is a connection opened after the key's last strike; one
    // the overload watch cut and struck already is not struck again.
    const struck = new StruckConnections();
    for (const { key, activity } of found) {
      const peer = activity.peer!;
      struck.add(key, activity.startedAt, peerKey(peer.hostname, peer.port));
    }
    const keys = abortStrikes(
      [...new Set(found.map((one) => one.key))],
      suspects,
    );
    const strikes = new Map(
      suspects.strike(keys, Date.now(), struck).map((
        strike,
      ) => [
        strike.key,
        strike,
      ]),
    );
    const close = limitClose("message_size", config);
    for (const { connection } of found) {
      this.#closed.add(connection);
      metrics.breached("message_size");
      metrics.kernelCheckCloses++;
      connection.close(close, true);
    }
    this.#later(
      this.#options.graceMs ?? CLOSE_GRACE_MS,
      () => this.#abortLeft(found, strikes),
    );
  }

  /** Aborts the connections still open, then logs one line for each. */
  async #abortLeft(
    found: TooBig[],
    strikes: Map<string, Strike>,
  ): Promise<void> {
    const open = new Set(
      this.#services.registry.connections().map(([connection]) => connection),
    );
    const left = found.filter((one) => open.has(one.connection));
    const abort = this.#options.socketAbort;
    const answer: AbortAnswer = left.length === 0
      ? { aborted: 0, left: new Set() }
      : abort
      ? await abort.abort(left.map((one) => one.activity.peer!))
      : { unavailable: "no listener port to abort on" };
    if (this.#stop.signal.aborted) return;
    for (const one of found) {
      const { key, activity, unseenBytes, allowedBytes } = one;
      const strike = strikes.get(key);
      const peer = activity.peer!;
      this.#services.log({
        event: "message_too_big",
        ip: key,
        peer: peerKey(peer.hostname, peer.port),
        unseenBytes,
        allowedBytes: Math.round(allowedBytes),
        code: 1009,
        aborted: !left.includes(one)
          ? "gone before"
          : "unavailable" in answer
          ? `no: ${answer.unavailable}`
          : answer.left.has(peer)
          ? `no: ${answer.refused ?? "still there"}`
          : "yes",
        strikes: strike?.strikes ?? 0,
        refusedForSeconds: strike?.refusedForSeconds ?? 0,
      });
    }
  }
}
