/**
 * What a listener recycle waits for before listening again. Split from
 * `overload_watch.ts`.
 *
 * @module
 */
import type { WatchedServices } from "./overload_watch_options.ts";
import { EARLY_SHARE } from "./overload_signals.ts";
import { within } from "./within.ts";

/**
 * Resolves once the old connections are gone and RSS (`readRss`, bytes) is
 * back under {@link EARLY_SHARE} of MAX_RSS_BYTES (Deno frees collected
 * fragments once their read is cancelled), or `deadline`
 * (`performance.now()` ms) passed. The memory guard then samples at once,
 * so it admits on what is left, not on the peak it saw last.
 */
export async function drained(
  services: Pick<WatchedServices, "registry" | "memory" | "config">,
  readRss: () => number,
  deadline: number,
): Promise<void> {
  await within(services.registry.whenEmpty(), deadline - performance.now());
  await settled(services, readRss, deadline);
}

/**
 * Resolves once RSS (`readRss`, bytes) is back under {@link EARLY_SHARE} of
 * MAX_RSS_BYTES, or `deadline` (`performance.now()` ms) passed, and has the
 * memory guard sample then: after a recycle, or after attackers' connections
 * were aborted (`incident_aborts.ts`), the guard admits on what is left
 * instead of refusing upgrades (503) until its next sample on the peak it
 * saw last.
 */
export async function settled(
  services: Pick<WatchedServices, "memory" | "config">,
  readRss: () => number,
  deadline: number,
): Promise<void> {
  const max = services.config.maxRssBytes;
  while (
    max > 0 && readRss() >= max * EARLY_SHARE && performance.now() < deadline
  ) await new Promise((resolve) => setTimeout(resolve, 20));
  services.memory.sample();
}
