/**
 * When upgrades leaked by Deno starve the process of descriptors, and what
 * `/healthz` and `/metrics` say about descriptors meanwhile.
 *
 * An upgrade the client resets right after its request keeps its
 * descriptor for good in Deno 2.9 (`upgrade_leaks.ts` counts them). Deno's
 * `op_http_upgrade_websocket_next` awaits a channel whose sender sits in the
 * same upgrade record the op holds, beside the connection; writing the 101
 * to the reset socket fails before the sender is used, so the pending op
 * keeps both until its runtime ends (ext/http/http_next.rs, v2.9.5). Neither
 * a recycle nor `shutdown()` frees them (`deno run -A
 * bench/overload_facts.ts reset 500`: 231 leaked, 230 after `shutdown()`);
 * nothing the app can do before `Deno.upgradeWebSocket` closes the race
 * either (s20b's note). Only the process ending frees them, so once they
 * hold {@link LEAK_EXIT_SHARE} of the descriptors the watch ends the process
 * for its supervisor, with {@link EXIT_DESCRIPTORS_LEAKED}.
 *
 * @module
 */
import { MIN_RESERVE, type OpenFileLimit } from "./fd_limit.ts";

/**
 * The exit code of a process ended because leaked upgrades starve it:
 * EX_TEMPFAIL of sysexits.h, "a temporary failure: retry". systemd's
 * `Restart=on-failure`, compose's `restart: on-failure` and Deno Deploy
 * start a clean process.
 */
export const EXIT_DESCRIPTORS_LEAKED = 75;

/**
 * Share of the descriptors that leaked upgrades may hold before the process
 * ends. At half the limit the service fits at most half the clients it was
 * sized for (MAX_CONNECTIONS is the limit less a tenth, `fd_limit.ts`), the
 * leaked half never comes back, and whoever leaked it can leak the rest in
 * the same time again; a restart now costs each connected client one
 * reconnect, as it would later, but with half the refusals before it. When
 * the limit is unknown (no `--allow-all`) the share is taken of what the
 * process knows its clients hold (leaked upgrades, connections, streams),
 * and only once accepting has failed for want of descriptors.
 */
export const LEAK_EXIT_SHARE = 0.5;

/** Where Linux lists the process's open descriptors. */
export const FDS_PATH = "/proc/self/fd";

/** What the process knows about its descriptors at one sample. */
export interface DescriptorFacts {
  /** Upgrades counted as leaked since start-up (`upgrade_leaks.ts`). */
  leaked: number;
  /** The open-file limit (soft), or "unknown" without `--allow-all`. */
  limit: OpenFileLimit | "unknown";
  /** WebSockets and streams open now: each holds one descriptor. */
  held: number;
  /** Times accepting failed for want of descriptors, since start-up. */
  acceptFailures: number;
}

/**
 * Why the process must end for its supervisor, or undefined while it need
 * not: leaked upgrades hold {@link LEAK_EXIT_SHARE} of the limit, or, with
 * the limit unknown, accepting has failed for want of descriptors, at
 * least `MIN_RESERVE` (64) upgrades leaked, and they hold that share of
 * what the clients hold.
 *
 * @returns One sentence naming the figures, for the log line and `/healthz`.
 * @example Half of 256 leaked
 * ```ts
 * import assert from "node:assert/strict";
 * import { starvedByLeaks } from "./descriptor_budget.ts";
 * const limit = { soft: 256, hard: 256 };
 * assert.equal(starvedByLeaks({ leaked: 100, limit, held: 5, acceptFailures: 0 }), undefined);
 * assert.match(
 *   starvedByLeaks({ leaked: 128, limit, held: 5, acceptFailures: 0 })!,
 *   /128 leaked upgrades hold 50% of the open-file limit 256/,
 * );
 * ```
 */
export function starvedByLeaks(facts: DescriptorFacts): string | undefined {
  const { leaked, limit, held, acceptFailures } = facts;
  if (leaked === 0) return undefined;
  if (limit !== "unknown" && limit.soft !== Infinity) {
    if (leaked < limit.soft * LEAK_EXIT_SHARE) return undefined;
    return `${leaked} leaked upgrades hold ${percent(leaked, limit.soft)} ` +
      `of the open-file limit ${limit.soft}; only a restart frees them`;
  }
  // Fewer leaks than the descriptors kept back for everything else cannot
  // be what starves it: idle TCP connections can (`exhaustion_test.ts`),
  // and a restart would drop every client without freeing the port for long.
  if (limit !== "unknown" || acceptFailures === 0) return undefined;
  if (leaked < MIN_RESERVE) return undefined;
  const known = leaked + held;
  if (leaked < known * LEAK_EXIT_SHARE) return undefined;
  return `accepting failed for want of descriptors, and ${leaked} leaked ` +
    `upgrades hold ${percent(leaked, known)} of those clients hold ` +
    `(${held} connections open); only a restart frees them`;
}

function percent(part: number, whole: number): string {
  return `${Math.round((part / whole) * 100)}%`;
}

/**
 * Counts the process's open descriptors (entries of {@link FDS_PATH}), or
 * undefined when it may not: Deno 2.9 reads under `/proc` only with
 * `--allow-all`, so callers ask only when the open-file limit was readable
 * (the same condition). O(descriptors): sample it, not per request.
 */
export function countOpenDescriptors(): number | undefined {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync(FDS_PATH)) count++;
    // One of them is the directory being read.
    return count - 1;
  } catch {
    return undefined;
  }
}
