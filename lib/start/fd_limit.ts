/**
 * The open-file limit and the WebSocket cap it allows. Every connection holds
 * one descriptor; when they run out, Deno's accept loop stops (see
 * `listener.ts`), so MAX_CONNECTIONS must stay below the limit with room to
 * spare for everything else the process opens.
 *
 * Deno raises the soft limit to the hard one at start-up, so the soft limit
 * read after start-up is the hard one. Deno 2.9 lets a program read
 * `/proc/self/limits` only with `--allow-all` (`--allow-read` of the path is
 * refused for anything under `/proc`); without it this module's reader says
 * "unknown", and the tasks learn the limit from `prlimit` after listening
 * instead (`prlimit.ts`, `learned_cap.ts`).
 *
 * @module
 */
import type { Config } from "../config.ts";

/** Where Linux states the process's limits. */
export const LIMITS_PATH = "/proc/self/limits";

/** Descriptors always kept back for non-WebSocket use. */
export const MIN_RESERVE = 64;

/** Share of the limit kept back for non-WebSocket use, when above MIN_RESERVE. */
export const RESERVE_FRACTION = 0.1;

/**
 * Descriptors kept back for each `deno serve --parallel` worker beyond the
 * first: 22 more at rest per worker (61 for 2 workers against 39 for
 * `deno task start`, `ls /proc/PID/fd | wc -l`), rounded up.
 */
export const WORKER_RESERVE = 24;

/**
 * Descriptors a service holds at rest before any client: 39 measured for
 * `deno task start` (`ls /proc/PID/fd | wc -l` at `listening` in
 * bench/attacks/refused.sh), rounded up; each further worker adds
 * {@link WORKER_RESERVE}.
 */
export const BASE_DESCRIPTORS = 40;

/**
 * Descriptors kept for refused upgrades and plain requests in flight, as a
 * share of the cap, above {@link BASE_DESCRIPTORS}. Deno accepts a
 * connection before the app can refuse it, so a crowd the cap turns away
 * holds descriptors while its `503`s go out: under `prlimit
 * --nofile=256` with every slot live (250 honest clients and 60
 * non-readers from 60 /24s retrying at once, bench/attacks/refused.sh,
 * load 30-35) they took up to 73 above 144 live WebSockets and the base
 * (0.44 a refused client; /healthz 24 of 24 answered), and with 192 live
 * they ran the 25 left out (peak 256 of 256, 64 accept failures, /healthz
 * 18 of 26). The clients a cap turns away grow with the audience it was
 * sized for, so the room grows with the cap: half of it (issue #20).
 */
export const REFUSAL_SHARE = 0.5;

/** The open-file limit, in descriptors; `Infinity` for "unlimited". */
export interface OpenFileLimit {
  soft: number;
  hard: number;
}

/**
 * Finds the "Max open files" line of `/proc/self/limits` text.
 *
 * @param text The file's contents.
 * @returns The soft and hard limits, or undefined when the line is missing or
 * malformed.
 * @example A typical line
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOpenFileLimit } from "./fd_limit.ts";
 * const text = "Max open files            1024                 4096                 files     \n";
 * assert.deepEqual(parseOpenFileLimit(text), { soft: 1024, hard: 4096 });
 * ```
 */
export function parseOpenFileLimit(text: string): OpenFileLimit | undefined {
  const match = text.match(
    /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)\s+files\s*$/m,
  );
  if (!match) return undefined;
  const value = (field: string) =>
    field === "unlimited" ? Infinity : Number(field);
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

/** Options for `readOpenFileLimit`; all optional. */
export interface ReadOpenFileLimitOptions {
  /**
   * Reads the limits file; undefined when it may not.
   * @default Deno.readTextFileSync of LIMITS_PATH, with the read permission
   */
  read?: () => string | undefined;
  /** The operating system. @default Deno.build.os */
  os?: typeof Deno.build.os;
}

/**
 * Reads this process's open-file limit. Never throws and never prompts for a
 * permission: anything but a readable, well-formed Linux limits file gives
 * "unknown" (macOS, Windows, Deno Deploy, or no `--allow-all`).
 */
export function readOpenFileLimit(
  options: ReadOpenFileLimitOptions = {},
): OpenFileLimit | "unknown" {
  if ((options.os ?? Deno.build.os) !== "linux") return "unknown";
  const read = options.read ?? (() => {
    // A query never prompts; a read without the permission might. No throw
    // for "not granted" (the start task's case): an Error built at start-up
    // cost 13 ms of CPU, a tenth of the bare echo's start (its stack trace
    // over the bundle; measured with Deno.cpuUsage(), BENCHMARKS.md #23).
    const { state } = Deno.permissions.querySync({
      name: "read",
      path: LIMITS_PATH,
    });
    return state === "granted" ? Deno.readTextFileSync(LIMITS_PATH) : undefined;
  });
  try {
    const text = read();
    return text === undefined
      ? "unknown"
      : parseOpenFileLimit(text) ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Descriptors kept back from WebSockets: max(64, 10% of the limit). 64 covers
 * what an idle service holds (39 measured on Linux under `deno run -A`:
 * stdio, Deno's cache databases, epoll, the listener, the RSS watchdog's
 * thread, 8 held for `ss`, `descriptor_reserve.ts`; 25 before the thread and
 * the reserve) plus about 25 HTTP requests, `/sse` streams or static files in
 * flight; 10% keeps that room in proportion on large limits, where page loads
 * grow with the number of clients.
 *
 * @param limit The open-file limit, in descriptors.
 */
export function fdReserve(limit: number): number {
  return Math.max(MIN_RESERVE, Math.ceil(limit * RESERVE_FRACTION));
}

/** The WebSocket cap the limit allows, and a line to print when it is lower. */
export interface ConnectionCap {
  /** Concurrent WebSocket connections in total; 0 = off, as in Config. */
  maxConnections: number;
  /** One line naming both numbers and the fix; undefined when unchanged. */
  warning?: string;
}

/**
 * The WebSocket cap under an open-file limit: the limit minus `fdReserve`
 * (and {@link WORKER_RESERVE} for each worker beyond the first), and at
 * most what leaves {@link BASE_DESCRIPTORS} plus {@link REFUSAL_SHARE} of
 * the cap for refusals in flight, shared by the workers of the process, at
 * least 1, and never above the configured cap. MAX_CONNECTIONS=0 (off) is capped too: the limit applies whether or
 * not the configuration sets one.
 *
 * @param limit The limit from `readOpenFileLimit`; "unknown" changes nothing.
 * @param maxConnections The configured MAX_CONNECTIONS (0 = off), per worker.
 * @param workers Workers of the process (`deno serve --parallel`); each
 * holds its own MAX_CONNECTIONS, all of them one open-file limit.
 * @example Under `ulimit -n 1024`, one worker and two
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectionCap } from "./fd_limit.ts";
 * assert.equal(connectionCap({ soft: 1024, hard: 1024 }, 10_000).maxConnections, 656);
 * assert.equal(connectionCap({ soft: 1024, hard: 1024 }, 10_000, 2).maxConnections, 320);
 * ```
 */
export function connectionCap(
  limit: OpenFileLimit | "unknown",
  maxConnections: number,
  workers = 1,
): ConnectionCap {
  if (limit === "unknown" || limit.soft === Infinity) return { maxConnections };
  const workersBeyond = (workers - 1) * WORKER_RESERVE;
  const shared = Math.min(
    limit.soft - fdReserve(limit.soft) - workersBeyond,
    (limit.soft - BASE_DESCRIPTORS - workersBeyond) / (1 + REFUSAL_SHARE),
  );
  const allowed = Math.max(1, Math.floor(shared / workers));
  if (maxConnections !== 0 && maxConnections <= allowed) {
    return { maxConnections };
  }
  const from = maxConnections === 0 ? "0 (off)" : String(maxConnections);
  const each = workers > 1 ? ` per worker (${workers} workers)` : "";
  return {
    maxConnections: allowed,
    warning:
      `ws-echo: MAX_CONNECTIONS lowered from ${from} to ${allowed}${each}: ` +
      `the open-file limit is ${limit.soft} (raise it with ulimit -n or LimitNOFILE=)`,
  };
}

/**
 * Whether the open-file limit bounds a cap of `maxConnections`: it allows
 * no more (`connectionCap`), so refusals, not the cap, decide whether
 * descriptors run out.
 *
 * @param limit The open-file limit.
 * @param maxConnections The cap in force, per worker; 0 = off.
 * @param workers Workers of the process: see {@link connectionCap}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitBindsCap } from "./fd_limit.ts";
 * assert.equal(limitBindsCap({ soft: 256, hard: 256 }, 144), true);
 * assert.equal(limitBindsCap({ soft: 65_536, hard: 65_536 }, 10_000), false);
 * ```
 */
export function limitBindsCap(
  limit: OpenFileLimit,
  maxConnections: number,
  workers = 1,
): boolean {
  if (limit.soft === Infinity) return false;
  const allowed = connectionCap(limit, 0, workers).maxConnections;
  return maxConnections === 0 || allowed <= maxConnections;
}

/**
 * A copy of `config` with MAX_CONNECTIONS capped by the open-file limit.
 *
 * @param config The parsed configuration; not modified.
 * @param limit The limit from `readOpenFileLimit`.
 * @param workers Workers of the process: see {@link connectionCap}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyFdLimit } from "./fd_limit.ts";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * const { config, warning } = applyFdLimit(DEFAULT_CONFIG, "unknown");
 * assert.equal(config.maxConnections, 10_000);
 * assert.equal(warning, undefined);
 * ```
 */
export function applyFdLimit(
  config: Config,
  limit: OpenFileLimit | "unknown",
  workers = 1,
): { config: Config; warning?: string } {
  const cap = connectionCap(limit, config.maxConnections, workers);
  if (cap.warning === undefined) return { config };
  return {
    config: { ...config, maxConnections: cap.maxConnections },
    warning: cap.warning,
  };
}
