/**
 * What the overload watch (`overload_watch.ts`) is given: how to recycle
 * the listener and end the process, how to read the process (RSS, CPU,
 * the share of a core it can expect, the open-file limit, the kernel's
 * count of each connection's bytes), and its bounds. Every reader has a default, so a
 * test replaces only what it drives.
 *
 * @module
 */
import type { SocketBytesSource } from "./incident_suspects.ts";
import type { OpenFileLimit } from "./fd_limit.ts";
import type { Services } from "../services.ts";

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
  | "listener"
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
   * Whether to start the RSS watchdog thread (`rss_watchdog.ts`), which ends
   * the process with SIGKILL: only where the process is the service's own
   * (main.ts, serve.ts), never in a test runner hosting a server, and only
   * with the real RSS (no `readRss`). @default false
   */
  watchdog?: boolean;
  /** @default `LISTENER_DOWN_LIMIT_MS` (`overload_watch.ts`) */
  listenerDownLimitMs?: number;
  /** @default `FAIL_EXIT_DELAY_MS` (`overload_watch.ts`) */
  failExitDelayMs?: number;
}
