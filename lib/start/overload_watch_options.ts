/**
 * What the overload watch (`overload_watch.ts`) is given: how to recycle
 * the listener and end the process, how to read the process (RSS, CPU,
 * the share of a core it can expect, the open-file limit, the kernel's
 * count of each connection's bytes), and its bounds (the constants here). Every reader has a default, so a
 * test replaces only what it drives.
 *
 * @module
 */
import type { SocketBytesSource } from "./incident_suspects.ts";
import type { SyncSocketAbort } from "./socket_abort.ts";
import type { OpenFileLimit } from "./fd_limit.ts";
import type { Services } from "../services.ts";
import type { CloseReason } from "../protocol/close_codes.ts";

/** The app's shared state the watch reads and acts on. */
export type WatchedServices = Pick<
  Services,
  | "config"
  | "metrics"
  | "memory"
  | "registry"
  | "log"
  | "suspects"
  | "overload"
  | "turns"
  | "payloadSeen"
  | "listener"
  | "held"
>;

/** Options for `OverloadWatch`. */
export interface OverloadWatchOptions {
  /**
   * Recycles the listener (`SupervisedServer.recycle`); none under
   * `deno serve`, where Deno owns it.
   */
  recycle?: (between: () => Promise<void>, limitMs: number) => Promise<number>;
  /** Ends the process. @default Deno.exit */
  exit?: (code: number) => void;
  /**
   * Closes every connection within the grace before a planned exit (leaked
   * descriptors); none: exit at once.
   */
  drain?: () => Promise<unknown>;
  /** Reads the open-file limit. @default `readOpenFileLimit` (`fd_limit.ts`) */
  readOpenFileLimit?: () => OpenFileLimit | "unknown";
  /** Reads the RSS in bytes. @default `Deno.memoryUsage().rss` */
  readRss?: () => number;
  /**
   * Reads the CPU time the process has used, in ms.
   * @default user + system from `processCpuMs` (`cpu_share.ts`)
   */
  readCpuMs?: () => number;
  /**
   * Reads the share of one core the process can expect now (0-1), or
   * undefined when unknown.
   * @default cores / 1-minute load average, at most 1 (`Deno.loadavg()`,
   * which needs `--allow-sys=loadavg`; unknown without it)
   */
  readFairShare?: () => number | undefined;
  /**
   * Reads the kernel's count of bytes on each connection of the listener
   * at an incident (`SocketBytesReader` on its port); none: connections
   * are judged by timing alone (`overload_attribution.ts`).
   */
  socketBytes?: SocketBytesSource;
  /**
   * Destroys connections of the listener by peer (`SsSocketAbort`): at a
   * memory or stall incident whose attack the kernel's count names connection by
   * connection, those are aborted instead of recycling the listener
   * (`incident_aborts.ts`). None: recycled as ever.
   */
  socketAbort?: SyncSocketAbort;
  /**
   * Whether to start the RSS watchdog thread (`rss_watchdog.ts`), which ends
   * the process with SIGKILL: only where the process is the service's own
   * (main.ts, serve.ts), never in a test runner hosting a server, and only
   * with the real RSS (no `readRss`). @default false
   */
  watchdog?: boolean;
  /**
   * The watchdog thread, made before the process served
   * (`makeWatchdogThread`, `serve.ts`): started at the first sample, with
   * no descriptors held for it (`watchdog_arming.ts`). @default made
   * `ARM_AFTER_MS` after the watch starts
   */
  watchdogThread?: Worker;
  /**
   * The listener's port: where the process may destroy sockets
   * (CAP_NET_ADMIN), the watchdog thread aborts the connections of it that
   * a held loop is reading from, before it would end the process.
   */
  port?: number;
  /**
   * The `BroadcastChannel` every `deno serve` worker's suspect list hears
   * (`suspect_peers.ts`): the watchdog thread tells them whom it is about
   * to abort, before it does, as its own loop is held. @default none
   */
  suspectChannel?: string;
  /** @default {@link LISTENER_DOWN_LIMIT_MS} */
  listenerDownLimitMs?: number;
  /** @default {@link FAIL_EXIT_DELAY_MS} */
  failExitDelayMs?: number;
  /** @default `THREAD_JOIN_MS` (`thread_joins.ts`) */
  threadJoinMs?: number;
  /** @default {@link LEAK_EXIT_NOTICE_MS} */
  leakExitNoticeMs?: number;
}

/** How often the watch samples, in ms: 400 MiB/s moves 40 MiB between two. */
export const SAMPLE_MS = 100;
/**
 * How often it samples while the process is quiet: no connection, stream or
 * upgrade held, and nothing received, sent, opened or closed between its
 * last two samples, nor RSS grown past {@link QUIET_RSS_GROWTH_BYTES}
 * (`OverloadWatch`), in ms. Each sample wakes the process:
 * at {@link SAMPLE_MS} the samples were most of an idle service's CPU, 8.6
 * ms a second (BENCHMARKS.md, issue #23). Anything an attack needs (a
 * request, a connection) ends the quiet at the next sample, so detection
 * starts at most this much later than at {@link SAMPLE_MS}; the watchdog
 * thread's beat stays well inside `HELD_MS` (1 s, `rss_watchdog.ts`).
 */
export const QUIET_SAMPLE_MS = 300;
/**
 * RSS growth between two samples that still counts as quiet, in bytes: a
 * collection's worth; more ends the quiet (another worker's clients, or
 * memory nobody counts).
 */
export const QUIET_RSS_GROWTH_BYTES = 1024 * 1024;
/** How long a listener may stay down before the process gives up, in ms. */
export const LISTENER_DOWN_LIMIT_MS = 30_000;
/** How long `/healthz` says 503 before the process exits, in ms. */
export const FAIL_EXIT_DELAY_MS = 2000;
/**
 * How long `/healthz` says 503 before a process that leaked descriptors
 * starts draining its connections to exit (`descriptor_budget.ts`), in
 * ms: long enough for a health check every 5 s to see it, where 2 s went
 * unseen (a stranger's poll said `ok` until the exit, issue #20). Nothing
 * grows meanwhile that a restart would not free.
 */
export const LEAK_EXIT_NOTICE_MS = 10_000;
/** How long the old connections get to go before listening again, in ms. */
export const RECYCLE_DRAIN_MS = 1000;
/** How long listening again may take before the process gives up, in ms. */
export const RELISTEN_LIMIT_MS = 5000;
/**
 * Try Again Later (1013): the listener is being recycled to free memory or
 * the event loop a client took; reconnecting at once is welcome.
 */
export const CLOSE_RECYCLE: CloseReason = {
  code: 1013,
  reason: "server restarting its listener: reconnect now",
};
