/**
 * The last bound on memory, off the event loop: a thread that reads RSS
 * (every {@link WATCHDOG_SAMPLE_MS} from half of MAX_RSS_BYTES up, up to
 * {@link WATCHDOG_QUIET_MS} apart below) and, while the overload watch has not
 * sampled for {@link HELD_MS} (from {@link LOOK_HELD_MS} where RSS grows too
 * fast for its margin to last that long), aborts the connections the process is
 * reading from once RSS passes MAX_RSS_BYTES (where it may destroy
 * sockets), and ends the process with SIGKILL past MAX_RSS_BYTES plus
 * {@link RSS_MARGIN_SHARE} where it may not, or plus
 * {@link ABORT_KILL_MARGIN_SHARE} where aborting did not free enough
 * (`watchdog_thread.ts`). Whatever the RSS, a loop held
 * {@link FLOOD_HELD_MS} while Deno reads one of the process's own
 * connections (a flood of frames it answers itself) has that connection
 * aborted. Past MAX_RSS_BYTES it also sweeps the process's own
 * connections holding bytes the app never saw with no complete message,
 * as the main loop's sweep would were it free to run (`abortHolding`).
 * Whether the loop is held or not, RSS rising toward MAX_RSS_BYTES faster
 * than an abort takes has the process's own connections read more than
 * one message beyond what the app saw aborted at once (`rising`,
 * `watchdog_rules.ts`).
 *
 * Why a thread: Deno collects an endless fragmented message inside its
 * read op, which holds the event loop, and the watch samples only when the
 * loop turns (issue #20). Measured on a bare `Deno.serve` echo, quiet
 * machine, a worker reading RSS every 10 ms beside a 10 ms timer on the
 * main loop: with 1 MiB continuation frames the loop turned every
 * 430-870 ms (RSS +130 MiB per turn at ~290 MiB/s); with 8 MiB frames it
 * did not turn for 5.7 s, until the attacker stopped, while RSS went from
 * 200 to 585 MiB (`deno run -A bench/overload_facts.ts held 8192`). No
 * sampling rate on the main loop bounds that; this thread does. A thread
 * cannot cancel the main loop's reads, but the kernel can fail them:
 * aborting the connection being collected (`ss -K`) frees its fragments
 * and lets the loop turn (`overload_facts.ts abort`). Ending the process
 * is the last resort, for a supervisor (`Restart=on-failure`) to bring it
 * back; the watch acts first whenever the loop lets it.
 *
 * The thread (a `Worker`: RSS +15-17 MiB) starts {@link ARM_AFTER_MS}
 * after the watch, whatever the RSS: started on RSS growth it never
 * started at all when the attack held the loop from its first fragment
 * (3 of 5 runs of `tests/start/overload_held_loop_test.ts` at load average
 * 15-24: RSS 1.1 GB, the watch 13-23 s late). By then every descriptor may
 * be taken, and its runtime needs some: under `deno task start` the watch
 * holds a few from its start for it (`descriptor_reserve.ts`,
 * {@link startRssWatchdog}); under `deno task serve`, where another worker
 * accepts meanwhile and could take them, each worker makes its thread
 * before any worker serves ({@link makeWatchdogThread}, `workers_ready.ts`)
 * and starts it with its orders at the watch's first sample. Reading RSS costs
 * ~37 µs (`overload_facts.ts cost`), but each wake-up of the thread more:
 * reading every 20 ms cost an idle service 12 ms of CPU a second, so below
 * half of MAX_RSS_BYTES it reads only as often as fast growth could get
 * there ({@link WATCHDOG_QUIET_MS}; {@link RSS_SURGE_BYTES_PER_SECOND}
 * while the watch is busy); it runs `ss` only while the loop is
 * held past half of MAX_RSS_BYTES, or held {@link FLOOD_LOOK_HELD_MS}
 * whatever the RSS (so it has looked before {@link FLOOD_HELD_MS}), or
 * past half of MAX_RSS_BYTES while RSS rises fast (`rising`). Aborting and
 * ending the process need the `run` permission (`ss`, `Deno.kill`: the
 * start task's `run: ["ss"]` suffices); without it the thread logs that it
 * could not and stops.
 *
 * @module
 */
import type { DescriptorReserve } from "./descriptor_reserve.ts";
import {
  DESTROY_REFUSED,
  NO_SOCKET_DIAG,
  peerKey,
  ssSockets,
} from "./socket_bytes.ts";
import {
  THREAD_GONE_FAILURE,
  type ThreadAbort,
  type WatchdogOrders,
  type WatchdogPeers,
  type WatchdogWake,
} from "./watchdog_orders.ts";
import { watchdogThread } from "./watchdog_thread.ts";
import { peerBook } from "./watchdog_peer_book.ts";
import { readDelayMs, readPeers, readSendQueues } from "./watchdog_readings.ts";
import {
  abortFilters,
  chooseAborts,
  chooseUnread,
  givesUp,
  heldLongEnough,
  rising,
} from "./watchdog_rules.ts";
import { SPLIT_CONNECTION_BYTES } from "./overload_attribution.ts";

export type { WatchdogOrders, WatchdogPeers };

/**
 * How often the thread reads RSS from {@link LOOK_AT_SHARE} of
 * MAX_RSS_BYTES up, in ms: 400 MiB/s adds 8 MiB between two.
 */
export const WATCHDOG_SAMPLE_MS = 20;
/**
 * The longest the thread waits between two readings of RSS below
 * {@link LOOK_AT_SHARE} of MAX_RSS_BYTES, in ms; it reads sooner when RSS
 * growing at {@link RSS_GROWTH_BYTES_PER_SECOND} could get there first
 * (`readDelayMs`, `watchdog_readings.ts`). Reading every
 * {@link WATCHDOG_SAMPLE_MS} whatever the RSS cost an idle service 12 ms of
 * CPU a second (BENCHMARKS.md, issue #23).
 */
export const WATCHDOG_QUIET_MS = 1000;
/**
 * The fastest RSS growth the thread's schedule allows for, in bytes per
 * second: a held loop collecting 1 MiB fragments grew ~290 MiB/s (this
 * module's doc); more than that reaches the thread's thresholds up to one
 * reading (at most {@link WATCHDOG_QUIET_MS}) late.
 */
export const RSS_GROWTH_BYTES_PER_SECOND = 400 * 2 ** 20;
/**
 * The fastest RSS growth the thread's schedule allows for while the watch
 * is busy (a connection, stream or upgrade held, or anything moved: not
 * `QUIET_SAMPLE_MS`), in bytes per second: four endless fragmented
 * messages on loopback, ~400 MiB/s each on a quiet machine (issue #20).
 * From ~100 MiB the thread then reads every {@link WATCHDOG_SAMPLE_MS} up
 * to half of MAX_RSS_BYTES 256 MiB, where it reads every 20 ms anyway, so
 * that the surge rule (`rising`, `watchdog_rules.ts`) sees the pace by
 * then. A quiet process keeps {@link RSS_GROWTH_BYTES_PER_SECOND}: its idle
 * wake-ups are what issue #23 cut.
 */
export const RSS_SURGE_BYTES_PER_SECOND = 4 * RSS_GROWTH_BYTES_PER_SECOND;
/**
 * How far past MAX_RSS_BYTES RSS may go while the loop is held where the
 * thread cannot abort, as a share of it: at 400 MiB the process ends past
 * 500 MiB (docs/limits.md#fragmented-messages).
 */
export const RSS_MARGIN_SHARE = 0.25;
/**
 * How long the watch may go without a sample before the thread acts on RSS
 * past a line, in ms (past MAX_RSS_BYTES it aborts, past the kill line it
 * ends the process): longer than a turn under 1 MiB fragments at load (the
 * watch recycles at those turns), a long collection, or one honest
 * message. It aborts sooner, from {@link LOOK_HELD_MS}, where RSS grew
 * more than one honest message in the hold and at that pace would pass the
 * kill line before an abort begun then freed anything
 * ({@link ABORT_TAKES_MS}; `heldLongEnough`, `watchdog_rules.ts`), and
 * such an early abort that finds nothing does not lower the kill line:
 * at 300-400 MiB/s the 128 MiB from MAX_RSS_BYTES 256
 * MiB to its kill line lasts 320-430 ms, and an abort after a
 * 1,009 ms hold came at 379.8 MiB (peak 384.7 MiB,
 * `tests/start/overload_held_loop_test.ts`).
 */
export const HELD_MS = 1000;
/**
 * How long the thread's abort takes to free memory once decided, in ms: a
 * look and `ss -K` (listed in 178 ms, aborted at 381 ms, load average 17:
 * `watchdog_thread.ts`'s doc), then the fragments are freed as the loop turns
 * (within 250 ms of it). RSS that would pass the kill line within this at
 * the pace it grew is aborted before {@link HELD_MS}.
 */
export const ABORT_TAKES_MS = 600;
/**
 * How long after the watch starts the thread is started, in ms: after the
 * first echo of a cold start (starting a `Worker` holds the main thread
 * while its isolate is made: 120-240 ms at load average 24), and before
 * most attackers (an attack that holds the loop from its first fragment
 * holds it from then on: no later trigger would fire).
 */
export const ARM_AFTER_MS = 300;
/**
 * What the thread adds to the process's RSS once started, in bytes: its
 * isolate, 14-17 MiB measured (BENCHMARKS thirteenth round, "RSS
 * settled"). The overload watch does not take it for a client's doing
 * (`OverloadSignals.restart`).
 */
export const WATCHDOG_THREAD_BYTES = 16 * 1024 * 1024;
/**
 * Where the thread may abort connections, how far past MAX_RSS_BYTES RSS
 * may still go with the loop held before it ends the process, as a share
 * of it: an abort at MAX_RSS_BYTES that did not free enough
 * (docs/limits.md#fragmented-messages).
 */
export const ABORT_KILL_MARGIN_SHARE = 0.5;
/**
 * From what share of MAX_RSS_BYTES, with the loop held, the thread lists
 * the listener's connections (`ss`, every {@link LOOK_EVERY_MS}) so that
 * an abort compares with a look made before it.
 */
export const LOOK_AT_SHARE = 0.5;
/**
 * How long the loop must be held before the thread looks (past
 * {@link LOOK_AT_SHARE} of MAX_RSS_BYTES) and before it may act at all, in
 * ms; a turn of the loop ends a held stretch when the thread reads the
 * beat fresher than this. Not what makes it read often: that starts at
 * {@link FLOOD_LOOK_HELD_MS} of hold (`readDelayMs`), past the quiet
 * watch's 300 ms beat.
 */
export const LOOK_HELD_MS = 250;
/** How often it looks while it does, in ms. */
export const LOOK_EVERY_MS = 250;
/**
 * How old a look may be to compare with, in ms; an older one is replaced
 * by two looks {@link LOOK_EVERY_MS} apart.
 */
export const LOOK_FRESH_MS = 1000;
/**
 * How much the process must have read from a connection since the look
 * before to be aborted, in bytes: a held loop reads from the connections
 * Deno is draining and no other.
 */
export const ABORT_MIN_READ_BYTES = 1024 * 1024;
/**
 * How long the loop may be held, whatever the RSS, before the thread
 * aborts this process's connections read from while it is (a flood of
 * frames Deno answers itself, `watchdog_thread.ts`), in ms: a turn under
 * load, a collection or a cold start's compile is far shorter (the
 * watch's stall incident acts on those once the loop turns).
 */
export const FLOOD_HELD_MS = 2000;
/**
 * From how long a hold the thread looks at the connections
 * (`ss -tinH`, every {@link LOOK_EVERY_MS}) whatever the RSS, in ms, so
 * that by {@link FLOOD_HELD_MS} it knows what each was read since.
 */
export const FLOOD_LOOK_HELD_MS = 500;
/**
 * What one connection may be read within one held stretch beyond
 * MAX_MESSAGE_BYTES and the payload the app saw of it before it is
 * aborted on a held loop alone, in bytes: Deno's read-ahead, frame headers
 * and the payload seen but not yet told (`SEEN_TELL_BYTES`, 32 KiB,
 * `traffic.ts`). Deno reads an honest client's next message only once the
 * app has taken the one before: so no honest client is read more than one
 * message (at most MAX_MESSAGE_BYTES) plus this beyond what the app saw,
 * while a flood of frames Deno answers itself is read as fast as it comes
 * (0.25-4.6 MiB/s per connection over 128 connections from `flood.py`
 * under `deno task serve`, load average 18).
 */
export const FLOOD_SLACK_BYTES = 64 * 1024;
/**
 * The largest message in flight when MAX_MESSAGE_BYTES is 0 (off): Deno's
 * own limit on one frame, in bytes. The thread's one-message bounds
 * ({@link FLOOD_SLACK_BYTES}, `WatchdogOrders.honestGrowthBytes`) take it
 * then, as the main loop's suspects do (`incident_suspects.ts`).
 */
export const DENO_FRAME_LIMIT_BYTES = 64 * 1024 * 1024;
/** How long one `ss` call of the thread may take, in ms. */
export const THREAD_SS_TIMEOUT_MS = 1000;

/**
 * Send-Q a connection keeps across two of the thread's looks to count as
 * not reading (`chooseUnread`, `watchdog_rules.ts`), in bytes: 64 KiB, a
 * round trip's worth of a fast link, where a non-reader of 1 MiB echoes
 * kept about 1 MiB (`ss -tnH`, bench/attacks/nonreader.py, load 7).
 */
export const UNREAD_MIN_BYTES = 64 * 1024;

/**
 * What the thread takes for `ss` failing on its stderr: the kernel refused
 * to destroy (`DESTROY_REFUSED`), or no netlink, where `ss` reads /proc
 * with no counts and `-K` destroys nothing (`NO_SOCKET_DIAG`), the
 * patterns of `socket_bytes.ts` as one RegExp source (the thread imports
 * nothing; it matches them ignoring case).
 *
 * @example What the thread took for failing before the patterns came here
 * ```ts
 * import assert from "node:assert/strict";
 * import { THREAD_SS_FAILED, THREAD_SS_FOR_GOOD } from "./rss_watchdog.ts";
 * const failed = new RegExp(THREAD_SS_FAILED, "i");
 * assert.ok(failed.test("SOCK_DESTROY answers: Operation not permitted"));
 * assert.ok(failed.test("Cannot open netlink socket: Address family not supported by protocol"));
 * assert.ok(!failed.test("State Recv-Q Send-Q"));
 * const forGood = new RegExp(THREAD_SS_FOR_GOOD, "i");
 * assert.ok(forGood.test("NotFound: Failed to spawn 'ss'"));
 * assert.ok(!forGood.test("TimeoutError: Signal timed out."));
 * ```
 */
export const THREAD_SS_FAILED =
  `${DESTROY_REFUSED.source}|${NO_SOCKET_DIAG.source}`;

/**
 * What the thread takes for failing for good, so it stops trying to
 * abort: {@link THREAD_SS_FAILED}, or `ss` cannot run here (Deno's
 * NotFound, NotCapable, or no access).
 */
export const THREAD_SS_FOR_GOOD =
  `${THREAD_SS_FAILED}|NotFound|NotCapable|access`;

/** Stands for the RSS in `WatchdogOrders.line`. */
export const RSS_TOKEN = "__rss_bytes__";
/** Stands for how long the loop was held, in `WatchdogOrders.line`. */
export const HELD_TOKEN = "__held_ms__";
/**
 * Stands for why the thread did not abort (or that aborting did not free
 * enough), in `WatchdogOrders.line`.
 */
export const ABORT_TOKEN = "__abort__";
/**
 * Stands for the time in a JSON `WatchdogOrders.line`: the epoch as
 * `toISOString()` writes it. Written out, not computed: the first `Date`
 * a process makes reads the time zone database (`/etc/localtime`, then
 * `/usr/share/zoneinfo`, seen with strace), and a `new Date(0)` at import
 * put that, about 1.2 ms, into every start before the first echo, which
 * needs no date (BENCHMARKS.md, sixteenth round).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TIME_TOKEN } from "./rss_watchdog.ts";
 * assert.equal(TIME_TOKEN, new Date(0).toISOString());
 * ```
 */
export const TIME_TOKEN = "1970-01-01T00:00:00.000Z";

/** A started watchdog: the watch beats it at each sample. */
export interface RssWatchdog {
  /**
   * Records that the watch sampled now (the loop turned), and whether it
   * is busy (`busy`, not sampling at `QUIET_SAMPLE_MS`): the thread then
   * reads as often as {@link RSS_SURGE_BYTES_PER_SECOND} needs.
   */
  beat(busy?: boolean): void;
  /**
   * A connection opened: the watch is busy from now on (until a beat says
   * otherwise), and where it was quiet the thread reads RSS at once
   * (`WatchdogWake`). One atomic exchange per open; a message only at the
   * first open after a quiet beat.
   */
  busy(): void;
  /** How many aborts the thread has made (read without a turn of the loop). */
  aborts(): number;
  /**
   * True while the thread is aborting: from its decision until its
   * message is posted or the abort failed (`WatchdogOrders.ready`).
   */
  aborting(): boolean;
  /**
   * Tells the thread which connections opened and closed (`peerKey`
   * form): the ones it may abort on a held loop alone (every one of the
   * port with `portOwned`).
   */
  peers(update: WatchdogPeers): void;
  /** Stops the thread. */
  dispose(): void;
}

/** How to start the thread ({@link startRssWatchdog}). */
export interface WatchdogStart {
  /**
   * The log line to write before ending the process, with the tokens of
   * `WatchdogOrders.line`.
   */
  line: string;
  /**
   * MAX_MESSAGE_BYTES: what an honest client may be read in one held
   * stretch, plus `FLOOD_SLACK_BYTES`; 0 (off) stands for
   * {@link DENO_FRAME_LIMIT_BYTES}.
   */
  maxMessageBytes: number;
  /** Descriptors held for the thread's runtime, released for it. */
  reserve?: DescriptorReserve;
  /**
   * The thread, made ahead ({@link makeWatchdogThread}): started with its
   * orders, which takes no descriptor. @default made now
   */
  thread?: Worker;
  /** The listener's port, whose connections it may abort. */
  port?: number;
  /**
   * Whether the process alone owns the listener (`deno task start`):
   * `WatchdogOrders.portOwned`. @default {false}
   */
  portOwned?: boolean;
  /** `WatchdogOrders.suspectChannel`. @default none */
  suspectChannel?: string;
  /** Called on the main loop with each abort the thread made. */
  onAbort?: (abort: ThreadAbort) => void;
}

/**
 * The thread's orders for MAX_RSS_BYTES `maxRssBytes` but for the shared
 * memory {@link startRssWatchdog} makes: every line and time it acts on,
 * from this module's constants, in one place (tests read them here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchdogOrders } from "./rss_watchdog.ts";
 * const MiB = 2 ** 20;
 * const orders = watchdogOrders(256 * MiB, { line: "", maxMessageBytes: MiB });
 * assert.equal(orders.abortAtBytes, 256 * MiB);
 * assert.equal(orders.killAtBytes, 384 * MiB);
 * assert.equal(orders.capBytes, 320 * MiB);
 * ```
 */
export function watchdogOrders(
  maxRssBytes: number,
  start: Pick<
    WatchdogStart,
    "line" | "maxMessageBytes" | "port" | "portOwned" | "suspectChannel"
  >,
): Omit<WatchdogOrders, "beat" | "ready"> {
  // What one honest message may be: with no limit, as much as Deno takes.
  const messageBytes = start.maxMessageBytes || DENO_FRAME_LIMIT_BYTES;
  return {
    capBytes: Math.round(maxRssBytes * (1 + RSS_MARGIN_SHARE)),
    abortAtBytes: maxRssBytes,
    killAtBytes: Math.round(maxRssBytes * (1 + ABORT_KILL_MARGIN_SHARE)),
    lookAtBytes: Math.round(maxRssBytes * LOOK_AT_SHARE),
    lookHeldMs: LOOK_HELD_MS,
    lookEveryMs: LOOK_EVERY_MS,
    lookFreshMs: LOOK_FRESH_MS,
    abortMinReadBytes: ABORT_MIN_READ_BYTES,
    floodHeldMs: FLOOD_HELD_MS,
    floodLookHeldMs: FLOOD_LOOK_HELD_MS,
    floodMinReadBytes: messageBytes + FLOOD_SLACK_BYTES,
    holdingBytes: SPLIT_CONNECTION_BYTES,
    unreadMinBytes: UNREAD_MIN_BYTES,
    ssTimeoutMs: THREAD_SS_TIMEOUT_MS,
    ssFailed: THREAD_SS_FAILED,
    ssFailedForGood: THREAD_SS_FOR_GOOD,
    port: start.port ?? 0,
    portOwned: start.portOwned === true,
    suspectChannel: start.suspectChannel ?? "",
    goneFailure: THREAD_GONE_FAILURE,
    heldMs: HELD_MS,
    abortTakesMs: ABORT_TAKES_MS,
    honestGrowthBytes: 2 * (messageBytes + FLOOD_SLACK_BYTES),
    everyMs: WATCHDOG_SAMPLE_MS,
    quietEveryMs: WATCHDOG_QUIET_MS,
    growthBytesPerSecond: RSS_GROWTH_BYTES_PER_SECOND,
    surgeBytesPerSecond: RSS_SURGE_BYTES_PER_SECOND,
    line: start.line,
    tokens: {
      rss: RSS_TOKEN,
      held: HELD_TOKEN,
      abort: ABORT_TOKEN,
      time: TIME_TOKEN,
    },
  };
}

/**
 * The event {@link startRssWatchdog} dispatches on `globalThis` just before
 * it needs descriptors for the thread (or, with a thread made ahead, before
 * it sends the orders): tests hold the start there
 * (`tests/fixtures/watchdog_start_hold.ts`).
 */
export const WATCHDOG_START_EVENT = "ws-echo:watchdog-start";

/** How long starting the thread may block the event loop, in ms. */
export const READY_WAIT_MS = 2000;

/**
 * Makes the thread, idle until {@link startRssWatchdog} sends its orders.
 * This is what takes descriptors: `new Worker` returns once the thread has
 * made its runtime (Deno 2.9.6's `op_create_worker` waits for the handle the
 * thread sends after `create_and_run_current_thread` and the isolate,
 * `runtime/ops/worker_host.rs`), which keeps six (strace of a bare `new
 * Worker`: epoll, its eventfd, a copy of epoll, a copy of the signal
 * pipe's end, stdout and stderr) and opens one more at a time for a
 * moment (`/proc/meminfo`, `/dev/urandom`, ...); with none
 * left Deno panics in that thread, which ends the process
 * (`runtime/tokio_util.rs:66`, `build().unwrap()`: Too many open files).
 *
 * @returns The thread, or why it could not be made (no `Worker`, as on
 * some hosts).
 */
export function makeWatchdogThread(): Worker | { unavailable: string } {
  // `ss` output is read with `ssSockets`, the main loop's reader too.
  const readsPeers =
    `(text) => (${readPeers.toString()})((${ssSockets.toString()})(text))`;
  // Peers are named as the main loop names them: with its own `peerKey`.
  const readsQueues =
    `(text) => (${readSendQueues.toString()})((${ssSockets.toString()})(text))`;
  const source = `(${watchdogThread.toString()})({ readPeers: ${readsPeers}, ` +
    `readSendQueues: ${readsQueues}, chooseUnread: ${chooseUnread.toString()}, ` +
    `readDelay: ${readDelayMs.toString()}, peerKey: ${peerKey.toString()}, ` +
    `heldLongEnough: ${heldLongEnough.toString()}, ` +
    `chooseAborts: ${chooseAborts.toString()}, ` +
    `abortFilters: ${abortFilters.toString()}, ` +
    `givesUp: ${givesUp.toString()}, rising: ${rising.toString()}, ` +
    `peerBook: ${peerBook.toString()} });`;
  try {
    const url = URL.createObjectURL(
      new Blob([source], { type: "text/javascript" }),
    );
    const worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
    return worker;
  } catch (error) {
    return { unavailable: String(error) };
  }
}

/**
 * Starts the thread for MAX_RSS_BYTES `maxRssBytes`: sends the orders to
 * `start.thread`, or makes the thread now ({@link makeWatchdogThread}) and
 * then blocks this one until it has read them (at most
 * {@link READY_WAIT_MS}). Made now, the thread takes descriptors, and with
 * none left Deno ends the process (every run of
 * `tests/start/watchdog_arming_test.ts` without the reserve): so the
 * descriptors held in `start.reserve` since before the first accept are
 * released just before, and no accept of this thread's loop can take them
 * meanwhile. Another thread's can (`deno serve --parallel`: its other
 * workers): there the thread is made ahead, before any worker serves.
 *
 * @returns The watchdog, or the reason it could not start (no `Worker`,
 * as on some hosts).
 */
export function startRssWatchdog(
  maxRssBytes: number,
  start: WatchdogStart,
): RssWatchdog | { unavailable: string } {
  // The thread's runtime needs descriptors of its own: the reserve's.
  if (!start.thread) start.reserve?.release();
  globalThis.dispatchEvent(new Event(WATCHDOG_START_EVENT));
  const made = start.thread ?? makeWatchdogThread();
  if ("unavailable" in made) return made;
  const worker = made;
  // [0]: the beat, ms since the epoch; [1]: 1 while the watch is busy.
  const beat = new BigInt64Array(new SharedArrayBuffer(16));
  const stamp = (busy = false) => {
    Atomics.store(beat, 1, busy ? 1n : 0n);
    Atomics.store(
      beat,
      0,
      BigInt(Math.round(performance.timeOrigin + performance.now())),
    );
  };
  stamp();
  const ready = new Int32Array(new SharedArrayBuffer(12));
  const orders: WatchdogOrders = {
    ...watchdogOrders(maxRssBytes, start),
    beat: beat.buffer as SharedArrayBuffer,
    ready: ready.buffer as SharedArrayBuffer,
  };
  const onAbort = start.onAbort;
  if (onAbort) {
    worker.onmessage = (event: MessageEvent<ThreadAbort>) =>
      onAbort(event.data);
  }
  worker.postMessage(orders);
  // Made now: blocks this thread until the thread runs, at most
  // READY_WAIT_MS. Made ahead, it runs already.
  if (!start.thread) Atomics.wait(ready, 0, 0, READY_WAIT_MS);
  return {
    beat: stamp,
    busy: () => {
      if (Atomics.exchange(beat, 1, 1n) === 0n) {
        const wake: WatchdogWake = { wake: true };
        worker.postMessage(wake);
      }
    },
    aborts: () => Atomics.load(ready, 1),
    aborting: () => Atomics.load(ready, 2) === 1,
    peers: (update) => worker.postMessage(update),
    dispose: () => worker.terminate(),
  };
}
