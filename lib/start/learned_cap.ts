/**
 * MAX_CONNECTIONS fitted to the open-file limit under least privilege. With
 * `--allow-all` the limit is read from `/proc/self/limits` before the app is
 * built (`effective_config.ts`); the tasks may not read it (`prlimit.ts`
 * says why), so once listening they ask `prlimit` and lower the cap in
 * force. Without it, a host whose limit was below MAX_CONNECTIONS (10,000)
 * plus the reserve let a stranger's few hundred WebSockets take every
 * descriptor: newcomers got a TCP reset and `/healthz` "connection refused"
 * instead of a `503` (216 connections at `prlimit --nofile=256:256`,
 * stranger10's F1). Where the limit stays unknown (macOS, Windows, Deno
 * Deploy, no `prlimit` on `PATH`) nothing changes.
 *
 * @module
 */
import type { Services } from "../services.ts";
import { connectionCap, type OpenFileLimit } from "./fd_limit.ts";
import { askPrlimit, mayAskPrlimit } from "./prlimit.ts";
import { after } from "../core_timer.ts";

/**
 * How long after listening the tasks ask `prlimit`, in ms: the first
 * `Deno.Command` of a process costs 10-16 ms of CPU (`prlimit.ts`), which
 * would land in a cold start's first echo (about 115 ms from spawn on a
 * quiet machine, BENCHMARKS.md) if asked at once. Until then the cap is
 * MAX_CONNECTIONS as set.
 */
export const LEARN_CAP_AFTER_MS = 500;

/** Options for {@link learnCap}. */
export interface LearnCapOptions {
  /** Workers of the process sharing its limit (`deno serve --parallel`). */
  workers: number;
  /** The limit read at start-up: anything but "unknown" makes this a no-op. */
  known: OpenFileLimit | "unknown";
  /**
   * Asks for the limit; undefined when it may not.
   * @default askPrlimit, when `mayAskPrlimit()`
   */
  ask?: (() => Promise<OpenFileLimit | "unknown">) | undefined;
  /** The wait before asking, in ms. @default LEARN_CAP_AFTER_MS */
  delayMs?: number;
}

/**
 * When the limit was unknown at start-up and `prlimit` may be asked (Linux,
 * the `run` permission for it): waits `delayMs`, asks it,
 * and if the limit cannot hold MAX_CONNECTIONS plus the reserve, lowers the
 * cap in force (`config.maxConnections`, which `/limits` and the `503`'s
 * reason show, and the registry's total cap) as `connectionCap` says. Sets
 * `metrics.descriptorLimit` (`/healthz`, `/metrics`, the leak exit of
 * `descriptor_budget.ts`). Never rejects.
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
 * assert.equal(config.maxConnections, 192);
 * assert.match(warning!, /lowered from 10000 to 192/);
 * registry.dispose();
 * ```
 */
export async function learnCap(
  services: Pick<Services, "config" | "registry" | "metrics">,
  options: LearnCapOptions,
): Promise<string | undefined> {
  if (options.known !== "unknown") return undefined;
  const ask = "ask" in options
    ? options.ask
    : mayAskPrlimit()
    ? askPrlimit
    : undefined;
  if (ask === undefined) return undefined;
  // A core timer: the global setTimeout's first call loads Node's timers
  // module, which cost 2 MiB of RSS and 12-15 ms of CPU by a cold start's
  // first echo (`core_timer.ts`).
  await new Promise<void>((resolve) => {
    after(options.delayMs ?? LEARN_CAP_AFTER_MS, resolve);
  });
  const limit = await ask().catch(() => "unknown" as const);
  if (limit === "unknown" || limit.soft === Infinity) return undefined;
  const { config, registry, metrics } = services;
  metrics.descriptorLimit = limit.soft;
  const cap = connectionCap(limit, config.maxConnections, options.workers);
  if (cap.warning === undefined) return undefined;
  config.maxConnections = cap.maxConnections;
  registry.maxTotal = cap.maxConnections;
  return cap.warning;
}
