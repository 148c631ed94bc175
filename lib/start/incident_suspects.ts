/**
 * Who the overload watch strikes at an incident: the kernel's count of
 * each connection's bytes (`socket_bytes.ts`) where it can be read, with
 * every connection's activity and the signals' moments, goes to
 * `overload_attribution.ts`; the addresses seen exchanging messages are
 * vouched for on the way. Split from `overload_watch.ts`, which acts on
 * what this finds.
 *
 * How the count is read depends on the incident. `ss` runs as a child
 * process, and waiting for it turns the event loop, which Deno spends
 * collecting the fragments of an endless message: awaiting it at a memory
 * incident let RSS reach 428-477 MiB at MAX_RSS_BYTES 256 MiB
 * (`tests/start/overload_watch_test.ts`'s unanswered close, 3 of 3 runs at
 * load average 26, over its 384 MiB; main without the wait stayed under
 * it 3 of 3), and reading ahead while the trouble built up found nothing
 * to read at load average 30 (Deno held the loop 4-6 s from the attack's
 * first fragments to the incident). A held loop is often those fragments
 * too: awaited at a stall incident, the reading saw 130 MiB collected while
 * the next sample, meanwhile, had RSS at 453-461 MB against MAX_RSS_BYTES
 * 400 MiB (attack review, one 150 MiB/s attacker, load ~15). So the count is
 * read synchronously (`readSync`: the loop, and with it the collecting,
 * waits for `ss`) at a memory incident and at any incident the listener is
 * recycled for (everyone is closed right after, so the blocked loop costs
 * nobody more); only a stall that is just reported (`deno serve`) waits
 * for it with a deadline.
 *
 * @module
 */
import type { Services } from "../services.ts";
import type { Activity } from "../admission/slots.ts";
import { attribute, SPLIT_CONNECTION_BYTES } from "./overload_attribution.ts";
import {
  OUT_OF_DESCRIPTORS,
  type PeerBytes,
  peerKey,
  type SocketBytesReading,
} from "./socket_bytes.ts";
import type { IncidentCause } from "../metrics.ts";
import {
  ABORT_KILL_MARGIN_SHARE,
  ABORT_TAKES_MS,
  DENO_FRAME_LIMIT_BYTES,
  HELD_MS,
  RSS_MARGIN_SHARE,
  THREAD_SS_TIMEOUT_MS,
} from "./rss_watchdog.ts";

/** A reading of the kernel's count with when it began, or why there is none. */
export type KernelReading =
  | {
    bytes: PeerBytes;
    /**
     * The peers still sending, at a memory incident only (see
     * {@link readKernel}).
     */
    sending?: ReadonlySet<string>;
    /** True at a held loop (`KernelCount.stall`). */
    stall?: boolean;
    /** When it began (`performance.now()`). */
    at: number;
  }
  | { unavailable: string };

/**
 * Reads the kernel's count for an incident of `cause`: blocking the loop
 * at a memory incident or when the listener is recycled for it
 * (`recycling`; see the module's comment), else waiting with the reader's
 * deadline. None without a reader (no listener port known).
 *
 * Which peers are still sending is kept at a memory incident only: there a
 * message still arriving is memory an honest client holds for a while (8
 * non-readers of one address half-way through their first 1 MiB were
 * struck as a split attack, issue #20), while at a stall the split flood's
 * own connections are still sending (empty frames) and sparing each one a
 * message in flight hid it (no recycle in 45 s, v20b's b9e8414).
 */
export async function readKernel(
  reader: SocketBytesSource | undefined,
  cause: IncidentCause,
  recycling = false,
): Promise<KernelReading> {
  if (!reader) return { unavailable: "no listener port" };
  const at = performance.now();
  const reading = cause === "uncounted_memory" || recycling
    ? reader.readSync()
    : await reader.read();
  if (!("bytes" in reading)) return reading;
  if (cause === "event_loop_stall") {
    return { bytes: reading.bytes, stall: true, at };
  }
  return cause === "uncounted_memory" && reading.sending
    ? { bytes: reading.bytes, sending: reading.sending, at }
    : { bytes: reading.bytes, at };
}

/** What reads the kernel's count (`SocketBytesReader`, or a test's). */
export interface SocketBytesSource {
  read(): Promise<SocketBytesReading>;
  readSync(): SocketBytesReading;
}

/** When things happened, in `performance.now()` ms (the watch's clock). */
export interface IncidentMoments {
  /** The sample before the incident's. */
  settledAt: number;
  /** `OverloadSignals.calmSince`. */
  calmSince: number;
  /** `OverloadSignals.troubleSince`. */
  troubleSince: number;
}

/** What {@link findSuspects} found. */
export interface Suspects {
  /** Client keys to strike. */
  struck: string[];
  /** Per key struck on the kernel's count, the bytes the app never saw. */
  unseen: Record<string, number>;
  /**
   * The connections struck on the kernel's count, each past its own
   * allowance (`overload_attribution.ts`): what an abort takes.
   */
  over: Deno.NetAddr[];
  /**
   * The keys struck on their address's or network's split total, their
   * connections that brought part of it (`overload_attribution.ts`): what
   * an abort takes from a split attack.
   */
  split: { keys: string[]; over: Deno.NetAddr[] };
  /**
   * Connections holding unseen bytes with no complete message seen, and
   * their keys (`overload_attribution.ts` `Attribution.holding`).
   */
  holding: { keys: string[]; peers: Deno.NetAddr[] };
  /**
   * How the kernel's count went: `read N sockets`, or why there was none
   * (then every connection was judged by timing).
   */
  kernel: string;
  /** True when the kernel's count was read (`kernel` says `read N sockets`). */
  counted: boolean;
  /**
   * True when the kernel's count covered every connection and found none
   * past its allowance (`overload_attribution.ts`): whatever grew, no
   * connection is collecting an endless message.
   */
  noneUnseen: boolean;
  /**
   * Sockets that are none of this worker's connections and brought more
   * than `SPLIT_CONNECTION_BYTES` since the previous reading
   * ({@link OthersReading}): under `deno serve`, the other workers' that
   * are bringing bytes now, whose memory those workers free.
   */
  othersReading: number;
  /**
   * True at this worker's first reading of the kernel's count: with no
   * reading before it, {@link othersReading} cannot tell what other
   * workers' sockets are bringing (it counts none).
   */
  othersUnknown?: boolean;
  /**
   * Keys not struck only because connections of theirs were still sending
   * (`Attribution.pending`): judged again at a second reading
   * ({@link SECOND_READING_MS}).
   */
  pending: string[];
}

/**
 * How long after a memory incident left to the guard with
 * {@link Suspects.pending} keys the count is read again, in ms: longer than
 * `SENDING_MS`, so a connection that has sent all it will send is quiet by
 * then, while an honest message has had a second more to complete.
 */
export const SECOND_READING_MS = 1000;
/** How many second readings follow one incident at most. */
export const SECOND_READINGS = 3;
/**
 * When the count is read again after a memory incident left to the guard
 * with {@link Suspects.pending} keys (`overload_watch.ts`).
 */
export class SecondReadings {
  #next: { at: number; left: number } | undefined;

  /**
   * After a reading at `now` (`performance.now()`): read again in
   * {@link SECOND_READING_MS} while keys are pending and `left` readings
   * remain; else none.
   */
  after(suspects: Suspects, left: number, now: number): void {
    this.#next = suspects.pending.length > 0 && left > 0
      ? { at: now + SECOND_READING_MS, left }
      : undefined;
  }

  /** The readings left counting this one, when one is due at `now`. */
  due(now: number): number | undefined {
    const next = this.#next;
    if (!next || now < next.at) return undefined;
    this.#next = undefined;
    return next.left;
  }
}

/** The reason logged for a recycle at a second reading. */
export const SECOND_READING_REASON =
  "second reading: connections still sending at the incident had gone quiet holding bytes the app never saw";

/**
 * Counts the sockets of other `deno serve` workers that are bringing bytes
 * now: those the kernel handed to the process more than
 * `SPLIT_CONNECTION_BYTES` of since the previous reading
 * ({@link Suspects.othersReading}).
 *
 * Why growth and not the total: a worker cannot see another worker's
 * connections, so it cannot tell which of their bytes that app has seen.
 * The total a socket has read since it opened counts any ordinary echo
 * client that has exchanged 16 KiB in its life (review stop35 F-C), so it
 * was nearly always above zero. Bytes handed to the process between two
 * readings are what the other worker is collecting now: a split attacker
 * sends fragments without end, an idle client sends nothing. Recv-Q would
 * say only that the other worker is not reading (its loop held), not that
 * its memory grows. At the first reading nothing counts. A socket first
 * seen at a later reading opened since the one before (every reading lists
 * every socket on the port), so all it read came since: it counts past
 * `SPLIT_CONNECTION_BYTES` too. Counting only sockets seen twice missed a
 * split attack that reconnects: worker-0 ended the process at 381.9 MB
 * (1.42x) with "0 other workers' sockets bringing bytes", its reading 9 s
 * after its previous one, while worker-1 swept 243 holders 200 ms later
 * (frag.py, 400 connections, `deno task serve`, acced8e, load 18).
 * Only the latest reading is kept (one number per socket on the port).
 *
 * @example Only growth since the previous reading counts
 * ```ts
 * import assert from "node:assert/strict";
 * import { OthersReading } from "./incident_suspects.ts";
 * const others = new OthersReading();
 * const own = new Set(["127.0.0.9:5000"]);
 * assert.equal(others.count(new Map([["127.1.0.1:4000", 1 << 20]]), own), 0);
 * assert.equal(others.count(new Map([["127.1.0.1:4000", 2 << 20]]), own), 1);
 * assert.equal(others.count(new Map([["127.1.0.1:4000", 2 << 20]]), own), 0);
 * // Opened since the reading before: all it read came since.
 * const later = new Map([["127.1.0.1:4000", 2 << 20], ["127.1.0.2:4001", 1 << 20]]);
 * assert.equal(others.count(later, own), 1);
 * ```
 */
export class OthersReading {
  #previous: PeerBytes | undefined;

  /** Whether a reading has been counted: before it, none can be compared. */
  get started(): boolean {
    return this.#previous !== undefined;
  }

  /**
   * The sockets in `bytes` (per {@link peerKey}, bytes read) that are none
   * of `own` and grew by more than `SPLIT_CONNECTION_BYTES` since the
   * previous call (from 0 where that call did not list them; none at the
   * first call); `bytes` becomes the previous reading.
   */
  count(bytes: PeerBytes, own: ReadonlySet<string>): number {
    let growing = 0;
    const previous = this.#previous;
    this.#previous = bytes;
    if (previous === undefined) return 0;
    for (const [peer, read] of bytes) {
      if (own.has(peer)) continue;
      if (read - (previous.get(peer) ?? 0) > SPLIT_CONNECTION_BYTES) growing++;
    }
    return growing;
  }
}

/**
 * Judges every connection of `services.registry` at an incident.
 *
 * @param reading The kernel's count, read at the incident ({@link readKernel}).
 * @param others What the previous readings saw on other workers' sockets
 * (one per watch; a fresh one counts none).
 */
export function findSuspects(
  services: Pick<Services, "registry" | "suspects" | "config">,
  moments: IncidentMoments,
  reading: KernelReading,
  others: OthersReading = new OthersReading(),
): Suspects {
  const { registry, suspects, config } = services;
  const now = Date.now();
  const activities: Array<[Activity | undefined, string]> = [];
  for (const [connection, key] of registry.connections()) {
    activities.push([connection.activity?.(), key]);
  }
  // From the watch's clock to the connections' (ms since epoch).
  const epoch = (at: number) => now - (performance.now() - at);
  const found = attribute(
    activities,
    {
      now,
      // Before any earlier sample, every connection counts as young.
      settledAt: epoch(moments.settledAt),
      vouched: (key) => suspects.vouched(key, now),
      brought: (key) => suspects.brought.of(key, now),
      rememberedAt: suspects.brought.rememberedAt,
      calmSince: epoch(moments.calmSince),
      troubleSince: epoch(moments.troubleSince),
    },
    "bytes" in reading
      ? {
        bytes: reading.bytes,
        at: epoch(reading.at),
        inFlightBytes: config.maxMessageBytes || DENO_FRAME_LIMIT_BYTES,
        ...(reading.sending ? { sending: reading.sending } : {}),
        ...(reading.stall ? { stall: true } : {}),
      }
      : undefined,
  );
  // `ss` could not run for want of descriptors: the process's own
  // shortage (leaked upgrades, idle connections), and timing alone struck
  // whoever was silent then, a newcomer among them (an attack review of
  // reset upgrades, issue #20). Nobody is struck on it.
  const struck = "unavailable" in reading &&
      OUT_OF_DESCRIPTORS.test(reading.unavailable)
    ? []
    : found.struck;
  suspects.vouch(found.vouched, now);
  suspects.brought.remember(found.brought, struck, now);
  const own = new Set<string>();
  for (const [activity] of activities) {
    if (activity?.peer) {
      own.add(peerKey(activity.peer.hostname, activity.peer.port));
    }
  }
  const othersUnknown = "bytes" in reading && !others.started;
  const othersReading = "bytes" in reading
    ? others.count(reading.bytes, own)
    : 0;
  return {
    struck,
    unseen: found.unseen,
    over: found.over,
    split: found.split,
    holding: found.holding,
    noneUnseen: "bytes" in reading && found.timed === 0 &&
      Object.keys(found.unseen).length === 0,
    othersReading,
    ...(othersUnknown ? { othersUnknown } : {}),
    kernel: "bytes" in reading
      ? `read ${reading.bytes.size} sockets`
      : reading.unavailable,
    counted: "bytes" in reading,
    pending: found.pending,
  };
}

/**
 * Why a held loop was only reported: the kernel's count found no
 * connection that brought bytes the app never saw past its allowance.
 */
export const NOT_A_FLOOD =
  "no connection brought bytes the app never saw (kernel count): the machine is busy or messages are still arriving, not a flood";

/**
 * True when the kernel's count was read and struck no connection: a held
 * loop is then the machine's load (timers late, the little CPU the process
 * gets spent on its own start-up or messages) or honest messages still
 * arriving (128 clients each half-way through 1 MiB at load average 30),
 * not a flood, which brings bytes the app never sees (pongs, empty frames,
 * fragments: far past `UNSEEN_ALLOWANCE`). Recycling would close every
 * client with 1013 for nothing. Without the count the timing rule stands
 * (docs/limits.md#no-per-connection-count-of-reads).
 */
export function notAFlood(suspects: Suspects): boolean {
  return suspects.counted && Object.keys(suspects.unseen).length === 0;
}

/** The reason logged for uncounted growth the watch leaves to the memory guard. */
export const IN_FLIGHT_REASON =
  "no connection past its unseen allowance (kernel count): messages in flight and queues of clients that do not read, left to the memory guard";

/**
 * True when uncounted growth below MAX_RSS_BYTES is on no connection past
 * its allowance, by the kernel's count of every one: messages in flight
 * and what Deno queued for clients that do not read, which the memory
 * guard sheds and `HeldSockets` aborts. A recycle would close every
 * bystander and free none of it (256 non-readers: RSS stayed at 187-190
 * MiB after the recycle until the clients left, an attack review).
 */
export function leftToGuard(
  cause: IncidentCause,
  suspects: Suspects,
  rssBytes: number,
  config: Pick<Services["config"], "maxRssBytes">,
): boolean {
  return cause === "uncounted_memory" && suspects.noneUnseen &&
    rssBytes < config.maxRssBytes;
}

/** The reason logged for uncounted growth a `deno serve` worker leaves to another. */
export const OTHER_WORKER_REASON =
  "no connection of this worker past its unseen allowance (kernel count): the memory is another worker's to free";

/**
 * How long a `deno serve` worker with nothing of its own to free waits,
 * past MAX_RSS_BYTES plus `ABORT_KILL_MARGIN_SHARE`, for the worker whose
 * sockets are bringing bytes before it ends the process, in ms: as long as
 * that worker's RSS watchdog thread may take to act on its held loop
 * (`HELD_MS`, then `ABORT_TAKES_MS`, and one `ss` run to its
 * `THREAD_SS_TIMEOUT_MS`). Past it, nobody has freed it in time.
 *
 * Why: worker-1's main loop ended the process at 462.7 MB (1.72x, "nothing
 * of this worker's to abort (0 past their allowance, 0 holding, 1 other
 * workers' sockets bringing bytes)") 70 ms before worker-0's thread
 * aborted the four attackers (RSS after: 100 MB): the quiet soak's
 * `unanswered_close` with four attackers under `deno task serve`, 405bc57,
 * load 0.7 (BENCHMARKS.md, issue #20). Fast growth is that held loop's
 * own thread's to stop, at its own lines; what grows while loops turn
 * grows slowly.
 */
export const OTHER_WORKER_WAIT_MS = HELD_MS + ABORT_TAKES_MS +
  THREAD_SS_TIMEOUT_MS;

/**
 * How long a worker has left growth past MAX_RSS_BYTES plus
 * `ABORT_KILL_MARGIN_SHARE` to the other workers, over the incidents of
 * one stretch past that line: from the first such incident, while each
 * comes within {@link OTHER_WORKER_WAIT_MS} of the one before; an incident
 * under the line, or one that leaves nothing to the others, ends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OtherWorkerWait } from "./incident_suspects.ts";
 * const wait = new OtherWorkerWait();
 * assert.equal(wait.waited(true, 1000), 0);
 * assert.equal(wait.waited(true, 1200), 200);
 * assert.equal(wait.waited(false, 1400), 0); // back under the line
 * assert.equal(wait.waited(true, 1600), 0);
 * assert.equal(wait.waited(true, 9000), 0); // long after: a new stretch
 * ```
 */
export class OtherWorkerWait {
  #since: number | undefined;
  #last = -Infinity;

  /**
   * The ms waited so far at an incident at `now` (`performance.now()`),
   * `past` when RSS is past the line with other workers' sockets bringing
   * bytes; 0 otherwise.
   */
  waited(past: boolean, now: number): number {
    if (!past || now - this.#last > OTHER_WORKER_WAIT_MS) {
      this.#since = undefined;
    }
    this.#last = past ? now : -Infinity;
    if (!past) return 0;
    this.#since ??= now;
    return now - this.#since;
  }
}

/**
 * True when a worker that cannot recycle (`deno serve`) should leave
 * uncounted growth to the other workers instead of ending the process: the
 * kernel's count covers every connection of its own and puts none past its
 * allowance, and RSS is under MAX_RSS_BYTES plus `RSS_MARGIN_SHARE` (past
 * it, nobody has freed it in time: the process ends), or, while other
 * workers' connections are bringing bytes since the previous reading
 * ({@link Suspects.othersReading}; an idle client's lifetime total does not
 * count), under plus `ABORT_KILL_MARGIN_SHARE` or past it for less than
 * {@link OTHER_WORKER_WAIT_MS} (`waitedMs`, {@link OtherWorkerWait}): a
 * worker whose sweep had taken all of its own ended the process at
 * 1.27-1.44x while the other worker still held ~200 split attackers it was
 * sweeping (an attack review's split fragments under `deno task serve`),
 * and at 1.72x 70 ms before the other worker's thread aborted its
 * attackers (see {@link OTHER_WORKER_WAIT_MS}). Every worker reads
 * the process's RSS: a worker holding only a bystander ended the process
 * at 279 MB while the worker holding the attacker was aborting it at 269
 * (MAX_RSS_BYTES 256 MiB, `tests/start/serve_abort_test.ts`). At the
 * worker's first reading ({@link Suspects.othersUnknown}) it always leaves
 * it, whatever the RSS: that reading counts none of the other workers'
 * sockets, and a worker ended the process at its first incident, 361.6 MB
 * (1.35x), with "0 other workers' sockets bringing bytes", 220 ms before
 * the other worker's thread aborted 82 of its non-readers (256 non-readers
 * of 1 MiB, `deno task serve`, load 35, the server at autogroup nice -10);
 * its next incident reads again, with this one to compare.
 */
export function leftToOtherWorker(
  cause: IncidentCause,
  suspects: Suspects,
  rssBytes: number,
  config: Pick<Services["config"], "maxRssBytes">,
  waitedMs = 0,
): boolean {
  if (cause !== "uncounted_memory" || !suspects.noneUnseen) return false;
  // Nothing to compare with yet: the next incident reads again.
  if (suspects.othersUnknown) return true;
  if (suspects.othersReading === 0) {
    return rssBytes < config.maxRssBytes * (1 + RSS_MARGIN_SHARE);
  }
  return rssBytes < config.maxRssBytes * (1 + ABORT_KILL_MARGIN_SHARE) ||
    waitedMs < OTHER_WORKER_WAIT_MS;
}
