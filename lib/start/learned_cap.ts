/**
 * MAX_CONNECTIONS fitted to the open-file limit under least privilege. With
 * `--allow-all` the limit is read from `/proc/self/limits` before the app is
 * built (`effective_config.ts`); the tasks may not read it (`prlimit.ts`
 * says why), so once listening they ask `prlimit` and lower the cap in
 * force. Without it, a host whose limit was below MAX_CONNECTIONS (10,000)
 * plus the reserve let a stranger's few hundred WebSockets take every
 * descriptor: newcomers got a TCP reset and `/healthz` "connection refused"
 * instead of a `503` (216 connections at `prlimit --nofile=256:256`,
 * in an attack review). Where the limit stays unknown (macOS, Windows, Deno
 * Deploy, no `prlimit` on `PATH`) nothing changes.
 *
 * @module
 */
import type { Services } from "../services.ts";
import {
  connectionCap,
  limitBindsCap,
  type OpenFileLimit,
} from "./fd_limit.ts";
import { askPrlimit, mayAskPrlimit, OUT_OF_DESCRIPTORS } from "./prlimit.ts";
import { isDescriptorExhaustion } from "../os_errors.ts";
import type { DescriptorReserve } from "./descriptor_reserve.ts";
import { after } from "../core_timer.ts";
import type { LogRecord } from "../log.ts";

/**
 * How long after listening the tasks ask `prlimit`, in ms: the first
 * `Deno.Command` of a process costs 10-16 ms of CPU (`prlimit.ts`), which
 * would land in a cold start's first echo (about 115 ms from spawn on a
 * quiet machine, BENCHMARKS.md) if asked at once. Until then the cap is
 * MAX_CONNECTIONS as set.
 */
export const LEARN_CAP_AFTER_MS = 500;

/**
 * How long after the first ask `prlimit` is asked again while the process
 * is out of descriptors to spawn it, in ms: clients that took every one in
 * the first 500 ms (the attack review above, or reconnects after a
 * supervisor's restart) would otherwise leave MAX_CONNECTIONS as
 * set for good, silently (found in a code review).
 */
export const LEARN_CAP_RETRY_MS = 1000;

/**
 * How long after the first ask the tries stop, in ms: a process out of
 * descriptors for a minute has the accept loop's lines to say so.
 */
export const LEARN_CAP_DEADLINE_MS = 60_000;

/** Options for {@link learnCap}. */
export interface LearnCapOptions {
  /** Workers of the process sharing its limit (`deno serve --parallel`). */
  workers: number;
  /**
   * The limit read at start-up: anything but "unknown" makes this a no-op
   * but for {@link closeRefusals}.
   */
  known: OpenFileLimit | "unknown";
  /**
   * Whether refused connections are closed once answered when the limit
   * bounds the cap (the registry's `closesRefusals`): under `deno task
   * start`, whose server keeps quiet about it (`listener.ts`'s `onError`).
   * @default false
   */
  closeRefusals?: boolean;
  /**
   * Asks for the limit; undefined when it may not. It answers (or rejects
   * with) EMFILE or ENFILE, {@link OUT_OF_DESCRIPTORS}, when it could not
   * spawn for lack of descriptors: asked again every `retryMs`.
   * @default askPrlimit, when `mayAskPrlimit()`
   */
  ask?:
    | (() => Promise<OpenFileLimit | "unknown" | typeof OUT_OF_DESCRIPTORS>)
    | undefined;
  /**
   * Descriptors lent to the default `ask`'s spawn (the ones held for `ss`,
   * `descriptor_reserve.ts`).
   */
  reserve?: DescriptorReserve | undefined;
  /** The wait before asking, in ms. @default LEARN_CAP_AFTER_MS */
  delayMs?: number;
  /** The wait between tries, in ms. @default LEARN_CAP_RETRY_MS */
  retryMs?: number;
  /** How long after the first try the last may start, in ms. @default LEARN_CAP_DEADLINE_MS */
  deadlineMs?: number;
  /**
   * Aborted when the service stops: the wait ends at once and nothing more
   * is asked, so a SIGTERM never waits for the first ask (500 ms) or for
   * the retries (60 s), review stop35 F-J.
   */
  signal?: AbortSignal | undefined;
}

/**
 * When the limit was unknown at start-up and `prlimit` may be asked (Linux,
 * the `run` permission for it): waits `delayMs`, asks it (again every
 * `retryMs` for up to `deadlineMs` while it cannot spawn for lack of
 * descriptors), and if the limit cannot hold MAX_CONNECTIONS plus the reserve, lowers the
 * cap in force (`config.maxConnections`, which `/limits` and the `503`'s
 * reason show, and the registry's total cap) as `connectionCap` says. Sets
 * `metrics.descriptorLimit` (`/healthz`, `/metrics`, the leak exit of
 * `descriptor_budget.ts`). Once `signal` is aborted it asks nothing more and
 * changes nothing. Never rejects.
 *
 * @param services What is capped; `config` is changed in place.
 * @returns The line to print when the cap was lowered, else undefined.
 * @example A limit of 256
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { ConnectionRegistry } from "../admission/slots.ts";
 * import { Metrics } from "../metrics.ts";
 * import { learnCap } from "./learned_cap.ts";
 * const config = { ...DEFAULT_CONFIG };
 * const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 10_000 });
 * const warning = await learnCap({ config, registry, metrics: new Metrics() }, {
 *   workers: 1,
 *   known: "unknown",
 *   ask: () => Promise.resolve({ soft: 256, hard: 256 }),
 *   delayMs: 0,
 * });
 * assert.equal(config.maxConnections, 144);
 * assert.match(warning!, /lowered from 10000 to 144/);
 * registry.dispose();
 * ```
 */
export async function learnCap(
  services: Pick<Services, "config" | "registry" | "metrics">,
  options: LearnCapOptions,
): Promise<string | undefined> {
  if (options.known !== "unknown") {
    markClosesRefusals(services, options.known, options);
    return undefined;
  }
  const { reserve } = options;
  const ask = "ask" in options
    ? options.ask
    : mayAskPrlimit()
    ? () => askPrlimit({ reserve, permitted: true })
    : undefined;
  if (ask === undefined) return undefined;
  // Core timers: the global setTimeout's first call loads Node's timers
  // module, which cost 2 MiB of RSS and 12-15 ms of CPU by a cold start's
  // first echo (`core_timer.ts`).
  // They hold the loop, so a stop cancels them (`signal`).
  const { signal } = options;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const cancel = after(ms, done);
      function done() {
        cancel();
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
  await wait(options.delayMs ?? LEARN_CAP_AFTER_MS);
  if (signal?.aborted) return undefined;
  const deadline = Date.now() + (options.deadlineMs ?? LEARN_CAP_DEADLINE_MS);
  let limit = await askOnce(ask);
  while (limit === OUT_OF_DESCRIPTORS && Date.now() < deadline) {
    await wait(options.retryMs ?? LEARN_CAP_RETRY_MS);
    if (signal?.aborted) return undefined;
    limit = await askOnce(ask);
  }
  if (typeof limit === "string" || limit.soft === Infinity) return undefined;
  if (signal?.aborted) return undefined;
  const { config, registry, metrics } = services;
  metrics.descriptorLimit = limit.soft;
  const cap = connectionCap(limit, config.maxConnections, options.workers);
  if (cap.warning === undefined) {
    markClosesRefusals(services, limit, options);
    return undefined;
  }
  config.maxConnections = cap.maxConnections;
  registry.maxTotal = cap.maxConnections;
  markClosesRefusals(services, limit, options);
  return cap.warning;
}

function markClosesRefusals(
  services: Pick<Services, "config" | "registry">,
  limit: OpenFileLimit,
  options: Pick<LearnCapOptions, "closeRefusals" | "workers">,
): void {
  if (!options.closeRefusals) return;
  services.registry.closesRefusals = limitBindsCap(
    limit,
    services.config.maxConnections,
    options.workers,
  );
}

/** Options for {@link learnCapThenLogStart}: {@link learnCap}'s and these. */
export interface StartLogOptions extends LearnCapOptions {
  /** The start record (`bootService`'s `startRecord`). */
  record: LogRecord;
  /**
   * The port listened on, when the record's may not be it (PORT=0): a
   * promise under `deno serve`, whose workers learn it from Deno.
   * @default the record's
   */
  port?: number | Promise<number>;
  /** Writes the record (the service's log). */
  log: (record: LogRecord) => void;
  /** Prints the line saying the cap was lowered. @default console.error */
  warn?: (line: string) => void;
}

/**
 * What both entry points do once listening: learn the cap ({@link learnCap}),
 * print its line if it was lowered, then log the start record with
 * MAX_CONNECTIONS in force and the port, so the `start` line never names a
 * cap the service does not apply. Never rejects.
 *
 * @example The record names the lowered cap and the port picked
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { ConnectionRegistry } from "../admission/slots.ts";
 * import { Metrics } from "../metrics.ts";
 * import type { LogRecord } from "../log.ts";
 * import { learnCapThenLogStart } from "./learned_cap.ts";
 * const config = { ...DEFAULT_CONFIG };
 * const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 10_000 });
 * const logged: LogRecord[] = [];
 * const warned: string[] = [];
 * await learnCapThenLogStart({ config, registry, metrics: new Metrics() }, {
 *   workers: 1,
 *   known: "unknown",
 *   ask: () => Promise.resolve({ soft: 256, hard: 256 }),
 *   delayMs: 0,
 *   record: { event: "start", port: 0, maxConnections: 10_000 },
 *   port: Promise.resolve(9998),
 *   log: (record) => logged.push(record),
 *   warn: (line) => warned.push(line),
 * });
 * assert.deepEqual(logged, [{ event: "start", port: 9998, maxConnections: 144 }]);
 * assert.match(warned[0]!, /lowered from 10000 to 144/);
 * registry.dispose();
 * ```
 */
export async function learnCapThenLogStart(
  services: Pick<Services, "config" | "registry" | "metrics">,
  options: StartLogOptions,
): Promise<void> {
  const warning = await learnCap(services, options);
  if (warning) (options.warn ?? console.error)(warning);
  const port = await options.port;
  options.log({
    ...options.record,
    maxConnections: services.config.maxConnections,
    ...(port === undefined ? {} : { port }),
  });
}

/** One ask: a rejection is "unknown" unless it says descriptors ran out. */
function askOnce(
  ask: () => Promise<OpenFileLimit | "unknown" | typeof OUT_OF_DESCRIPTORS>,
): Promise<OpenFileLimit | "unknown" | typeof OUT_OF_DESCRIPTORS> {
  return ask().catch((error) =>
    isDescriptorExhaustion(error) ? OUT_OF_DESCRIPTORS : "unknown"
  );
}
