/**
 * When the overload watch starts its RSS watchdog thread
 * (`rss_watchdog.ts`), and the line the thread writes before it ends the
 * process. Split from `overload_watch.ts`, which beats it at each sample.
 *
 * Under `deno task start` the thread is made {@link ARM_AFTER_MS} after the
 * watch, after the first echo of a cold start, from descriptors held since
 * then (`descriptor_reserve.ts`): the loop that would accept is the one
 * blocked while it is made. Under `deno task serve` the other workers go on
 * accepting meanwhile and took those descriptors (a panic that ended the
 * process, `tests/start/watchdog_serve_start_test.ts`), so there the thread
 * is made before any worker serves (`serve.ts`) and handed in: started at
 * the first tick with its orders, which take no descriptor, and nothing is
 * held for it.
 *
 * @module
 */
import { formatJson, formatText, type LogRecord } from "../log.ts";
import type { Config } from "../config.ts";
import {
  ABORT_KILL_MARGIN_SHARE,
  ABORT_TOKEN,
  ARM_AFTER_MS,
  HELD_TOKEN,
  makeWatchdogThread,
  RSS_MARGIN_SHARE,
  RSS_TOKEN,
  type RssWatchdog,
  startRssWatchdog,
  TIME_TOKEN,
  type WatchdogPeers,
  type WatchdogStart,
} from "./rss_watchdog.ts";
import { DescriptorReserve } from "./descriptor_reserve.ts";

/** What {@link WatchdogArming.tick} did. */
export type ArmingStep =
  | "beat"
  /** The thread aborted connections since the tick before (a beat too). */
  | "aborted"
  | "waiting"
  | "off"
  | "started"
  | { unavailable: string };

/**
 * Where the thread may abort connections, who hears of it, and the thread
 * when made ahead (`thread`, `makeWatchdogThread`).
 */
export type ArmingAborts = Pick<
  WatchdogStart,
  "port" | "portOwned" | "onAbort" | "suspectChannel" | "thread"
>;

/**
 * Makes the thread ahead (`makeWatchdogThread`), for {@link WatchdogArming}'s
 * `thread`, where an arming would start one: MAX_RSS_BYTES set. Under
 * `deno task serve` only, before any worker serves (`serve.ts`).
 *
 * @returns The thread, or undefined where none is wanted or none could be
 * made (the arming then tries once more, and logs why not).
 */
export function makeThreadAhead(
  config: Pick<Config, "maxRssBytes">,
): Worker | undefined {
  if (!watchdogWanted(config)) return undefined;
  const made = makeWatchdogThread();
  return "unavailable" in made ? undefined : made;
}

/** Whether a thread is wanted at all: MAX_RSS_BYTES set (0 is off). */
function watchdogWanted(config: Pick<Config, "maxRssBytes">): boolean {
  return config.maxRssBytes > 0;
}

/**
 * Starts the watchdog {@link ARM_AFTER_MS} after it is made (at the first
 * tick when its thread was made ahead), then beats it at each tick;
 * `dispose()` stops the thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WatchdogArming } from "./watchdog_arming.ts";
 * const off = new WatchdogArming(false, {
 *   maxRssBytes: 1,
 *   maxMessageBytes: 1,
 *   logFormat: "text",
 * });
 * assert.equal(off.tick(performance.now() + 1000), "off");
 * ```
 */
export class WatchdogArming {
  #state: RssWatchdog | "off" | undefined;
  readonly #config: Pick<
    Config,
    "maxRssBytes" | "maxMessageBytes" | "logFormat"
  >;
  readonly #since = performance.now();
  /**
   * Made before any client connects; released for a thread made at the
   * start (none for one made ahead).
   */
  #reserve: DescriptorReserve | undefined;
  readonly #aborts: ArmingAborts;
  /** The thread's abort count at the tick before. */
  #abortsSeen = 0;

  /**
   * @param enabled Whether to start it at all: only in the service's own
   * process, with the real RSS and MAX_RSS_BYTES set.
   */
  constructor(
    enabled: boolean,
    config: Pick<Config, "maxRssBytes" | "maxMessageBytes" | "logFormat">,
    aborts: ArmingAborts = {},
  ) {
    this.#config = config;
    this.#aborts = aborts;
    if (!enabled || !watchdogWanted(config)) {
      this.#state = "off";
      aborts.thread?.terminate();
    } else if (!aborts.thread) this.#reserve = new DescriptorReserve();
  }

  /**
   * At each sample of the watch (`performance.now()` ms): the loop turned;
   * `busy` while the watch is not quiet (`RssWatchdog.beat`).
   */
  tick(now: number, busy = false): ArmingStep {
    if (typeof this.#state === "object") {
      this.#state.beat(busy);
      const aborts = this.#state.aborts();
      if (aborts === this.#abortsSeen) return "beat";
      this.#abortsSeen = aborts;
      return "aborted";
    }
    if (this.#state === "off") return "off";
    // A thread made ahead costs nothing more to start.
    if (!this.#aborts.thread && now - this.#since < ARM_AFTER_MS) {
      return "waiting";
    }
    const started = startRssWatchdog(this.#config.maxRssBytes, {
      line: this.#line(),
      maxMessageBytes: this.#config.maxMessageBytes,
      ...(this.#reserve ? { reserve: this.#reserve } : {}),
      ...this.#aborts,
    });
    this.#reserve = undefined;
    if ("unavailable" in started) {
      this.#state = "off";
      return started;
    }
    this.#state = started;
    return "started";
  }

  /**
   * True while a started thread is aborting connections, from its
   * decision until its message is posted (`RssWatchdog.aborting`).
   */
  aborting(): boolean {
    return typeof this.#state === "object" && this.#state.aborting();
  }

  /** How many aborts a started thread has made; 0 before it starts. */
  aborts(): number {
    return typeof this.#state === "object" ? this.#state.aborts() : 0;
  }

  /**
   * Tells a started thread which connections opened and closed
   * (`own_peers.ts`); nothing before it starts or once it is off.
   */
  peers(update: WatchdogPeers): void {
    if (typeof this.#state === "object") this.#state.peers(update);
  }

  /** A connection opened (`RssWatchdog.busy`); nothing before it starts. */
  busy(): void {
    if (typeof this.#state === "object") this.#state.busy();
  }

  /** Stops the thread; it is not started again. */
  dispose(): void {
    this.#reserve?.release();
    this.#reserve = undefined;
    if (typeof this.#state === "object") this.#state.dispose();
    // Made ahead and never started.
    else if (this.#state === undefined) this.#aborts.thread?.terminate();
    this.#state = "off";
  }

  /** The line the thread writes before it ends the process (LOG_FORMAT). */
  #line(): string {
    const record: LogRecord = {
      event: "overload_incident",
      cause: "uncounted_memory",
      action: "exit",
      signal: "SIGKILL",
      rssBytes: RSS_TOKEN,
      maxRssBytes: this.#config.maxRssBytes,
      eventLoopHeldMs: HELD_TOKEN,
      abort: ABORT_TOKEN,
      reason: `RSS past MAX_RSS_BYTES plus ${RSS_MARGIN_SHARE * 100}% (${
        ABORT_KILL_MARGIN_SHARE * 100
      }% while aborting the connections read from could still help) while Deno held the event loop: only ending the process frees it`,
    };
    return this.#config.logFormat === "json"
      ? formatJson(record, new Date(TIME_TOKEN))
      : formatText(record);
  }
}
