/**
 * When `/healthz` says `degraded`: overload incidents that repeat. Between
 * two event-loop stalls of a frame flood the process answers `/healthz` at
 * once, so a load balancer or an operator polling it would see `ok` while
 * the service is held again and again (an attack review's frame floods). The one rule, read
 * by `/healthz` (`status`, `degraded`) and `/metrics` / OpenTelemetry
 * (`ws_echo_degraded`, `ws_echo.degraded`), so they cannot disagree.
 *
 * @module
 */

/**
 * How far back incidents count, in ms: a minute, longer than the 5-30 s
 * gaps between the stall incidents of a split flood, and short enough that
 * `/healthz` turns `ok` a minute after the last one.
 */
export const DEGRADED_WINDOW_MS = 60_000;

/**
 * How many incidents within {@link DEGRADED_WINDOW_MS} make the process
 * `degraded`: two, since one stall can be a single honest burst (a large
 * message, a garbage collection) that the watch dealt with.
 */
export const DEGRADED_INCIDENTS = 2;

/**
 * The incident causes that count: the event loop held (frame floods) and
 * memory no connection accounts for (endless fragments). The others
 * (descriptor leaks, unanswered closes, the listener down) have their own
 * fields and statuses in `/healthz`.
 */
export const DEGRADING_CAUSES: readonly string[] = [
  "event_loop_stall",
  "uncounted_memory",
];

/** What `/healthz` shows while degraded: the count and the last cause. */
export interface Degraded {
  /** Incidents of {@link DEGRADING_CAUSES} within the window. */
  incidents: number;
  /** The cause of the last of them. */
  lastCause: string;
  /** {@link DEGRADED_WINDOW_MS} in seconds. */
  windowSeconds: number;
}

/**
 * The incidents of {@link DEGRADING_CAUSES} within the last
 * {@link DEGRADED_WINDOW_MS}; older ones are dropped at each look, so it
 * holds at most what one minute's incidents are.
 */
export class RecentIncidents {
  readonly #now: () => number;
  /** Newest last: when (ms, from `now`) and why. */
  #recent: { at: number; cause: string }[] = [];

  /** @param now The clock, in ms; tests pass a fake one. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Notes an incident; causes outside {@link DEGRADING_CAUSES} are ignored. */
  record(cause: string): void {
    if (!DEGRADING_CAUSES.includes(cause)) return;
    this.#recent.push({ at: this.#now(), cause });
    this.#forget();
  }

  /**
   * The `degraded` facts while {@link DEGRADED_INCIDENTS} or more incidents
   * fell within the last {@link DEGRADED_WINDOW_MS}; undefined otherwise.
   */
  degraded(): Degraded | undefined {
    this.#forget();
    if (this.#recent.length < DEGRADED_INCIDENTS) return undefined;
    return {
      incidents: this.#recent.length,
      lastCause: this.#recent.at(-1)!.cause,
      windowSeconds: DEGRADED_WINDOW_MS / 1000,
    };
  }

  #forget(): void {
    const since = this.#now() - DEGRADED_WINDOW_MS;
    this.#recent = this.#recent.filter((incident) => incident.at > since);
  }
}
