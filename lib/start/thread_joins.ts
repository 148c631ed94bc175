/**
 * One held stretch of the loop, one incident: the RSS watchdog thread's
 * aborts (`watchdog_thread.ts`) that belong to the incident the overload
 * watch is acting on are joined to its record instead of logged and
 * counted as incidents of their own. The watch and the thread both see a
 * held loop: the thread aborts while it is held, the watch acts once it
 * turns. Before, one held stretch could log two or three incidents: the
 * watch's, its `ss -K` finding the attackers gone, then the thread's
 * messages 0.3-0.4 s later (`deno task soak --overload`, empty frames from
 * four addresses under `deno task serve`; `overload_watch_test`'s
 * occasional "3 !== 2"). Each try is still struck once (`same_try.ts`);
 * this is about the count and the line. Split from `incident_actions.ts`.
 *
 * @module
 */
import type { IncidentRecord, Services } from "../services.ts";
import type { StruckAhead } from "./incident_strikes.ts";
import type { ThreadAbort } from "./watchdog_orders.ts";

/**
 * How long an incident's report waits for the thread to finish an abort
 * it began (and for its message), in ms: its `ss -K` runs run out of time
 * after `THREAD_SS_TIMEOUT_MS` (1 s) each. Past it the incident is
 * reported alone, and the thread's abort is an incident of its own.
 */
export const THREAD_JOIN_MS = 2000;

/** What the reason of an incident the thread's aborts were joined to adds. */
export const JOINED_REASON =
  "the RSS watchdog thread aborted connections in the same held stretch (ss -K)";

/** The thread as an incident sees it (`WatchdogArming`). */
export interface ThreadState {
  /** True while it is aborting (`RssWatchdog.aborting`). */
  aborting(): boolean;
  /** How many aborts it has made (`RssWatchdog.aborts`). */
  aborts(): number;
}

/** A thread's abort taken in while an incident was under way. */
export interface JoinedAbort {
  abort: ThreadAbort;
  /** Connections it and the main loop aborted for it. */
  aborted: number;
  /** Its strikes, made when its message came (`strikeAhead`). */
  ahead: StruckAhead;
}

/**
 * The thread's aborts an incident under way takes in, and whether one is
 * still coming.
 *
 * @example An abort joined to the incident's record
 * ```ts
 * import assert from "node:assert/strict";
 * import type { IncidentRecord } from "../services.ts";
 * import { ThreadJoins } from "./thread_joins.ts";
 * const joins = new ThreadJoins({ aborting: () => false, aborts: () => 1 });
 * assert.equal(joins.pending(), true);
 * joins.heard();
 * joins.join({
 *   abort: { cause: "event_loop_stall", peers: [{ hostname: "127.0.0.2", port: 5 }], readBytes: [1], rssBytes: 0, heldMs: 2100, heldSince: 0 },
 *   aborted: 1,
 *   ahead: { keys: ["127.0.0.2"], strikes: [{ key: "127.0.0.2", strikes: 2, refusedForSeconds: 300 }] },
 * });
 * const record: IncidentRecord = { cause: "event_loop_stall", action: "reported", at: "", rssBytes: 0, usedBytes: 0, eventLoopDelayMs: 0, closed: 0, struck: [], refused: {} };
 * const metrics = { suspectsListed: 0 };
 * joins.fold(record, metrics);
 * assert.equal(joins.pending(), false);
 * assert.deepEqual([record.action, record.aborted, record.struck, metrics.suspectsListed], ["aborted", 1, ["127.0.0.2"], 1]);
 * ```
 */
export class ThreadJoins {
  readonly #thread: ThreadState | undefined;
  readonly #joinMs: number;
  /** The thread's messages heard so far. */
  #heard = 0;
  #joined: JoinedAbort[] = [];

  /**
   * @param thread The watchdog thread; none: nothing is ever pending.
   * @param joinMs How long {@link settled} waits at most.
   * @default {@link THREAD_JOIN_MS}
   */
  constructor(thread?: ThreadState, joinMs: number = THREAD_JOIN_MS) {
    this.#thread = thread;
    this.#joinMs = joinMs;
  }

  /** A message of the thread's was heard (before it is acted on). */
  heard(): void {
    this.#heard++;
  }

  /**
   * True while the thread is aborting, or has made an abort whose message
   * has not been heard yet.
   */
  pending(): boolean {
    const thread = this.#thread;
    return thread !== undefined &&
      (thread.aborting() || thread.aborts() > this.#heard);
  }

  /**
   * Resolves once nothing is {@link pending}, or its `joinMs` passed;
   * looks every 10 ms (the thread says nothing when an abort fails).
   */
  async settled(): Promise<void> {
    const deadline = performance.now() + this.#joinMs;
    while (this.pending() && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Keeps `joined` for the record of the incident under way. */
  join(joined: JoinedAbort): void {
    this.#joined.push(joined);
  }

  /** True when aborts wait to be joined. */
  get waiting(): boolean {
    return this.#joined.length > 0;
  }

  /**
   * Joins the aborts kept to `record`: their keys struck, listings (counted
   * in `metrics`), connections aborted, the longest hold; an incident only
   * reported becomes `aborted`. Forgets them.
   */
  fold(
    record: IncidentRecord,
    metrics: Pick<Services["metrics"], "suspectsListed">,
  ): void {
    const joined = this.#joined;
    this.#joined = [];
    for (const { abort, aborted, ahead } of joined) {
      record.struck = [...new Set([...record.struck, ...ahead.keys])];
      for (const strike of ahead.strikes) {
        if (strike.refusedForSeconds === 0 || strike.key in record.refused) {
          continue;
        }
        record.refused[strike.key] = strike.refusedForSeconds;
        metrics.suspectsListed++;
      }
      record.aborted = (record.aborted ?? 0) + aborted;
      record.eventLoopHeldMs = Math.max(
        record.eventLoopHeldMs ?? 0,
        abort.heldMs,
      );
      if (record.action === "reported") record.action = "aborted";
    }
    // Said once, however many aborts joined.
    if (joined.length > 0) {
      record.reason = record.reason
        ? `${record.reason}; ${JOINED_REASON}`
        : JOINED_REASON;
    }
  }

  /** Takes the aborts kept, for an incident that builds no record. */
  take(): JoinedAbort[] {
    const joined = this.#joined;
    this.#joined = [];
    return joined;
  }
}
