/**
 * When the overload watch starts its RSS watchdog thread
 * (`rss_watchdog.ts`), and the line the thread writes before it ends the
 * process. Split from `overload_watch.ts`, which beats it at each sample.
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

/** Where the thread may abort connections, and who hears of it. */
export type ArmingAborts = Pick<
  WatchdogStart,
  "port" | "portOwned" | "onAbort" | "suspectChannel"
>;

/**
 * Starts the watchdog {@link ARM_AFTER_MS} after it is made, then beats it
 * at each tick; `dispose()` stops the thread.
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
  /** Made before any client connects; released for the thread. */
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
    if (!enabled || config.maxRssBytes === 0) this.#state = "off";
    else this.#reserve = new DescriptorReserve();
  }

  /** At each sample of the watch (`performance.now()` ms): the loop turned. */
  tick(now: number): ArmingStep {
    if (typeof this.#state === "object") {
      this.#state.beat();
      const aborts = this.#state.aborts();
      if (aborts === this.#abortsSeen) return "beat";
      this.#abortsSeen = aborts;
      return "aborted";
    }
    if (this.#state === "off") return "off";
    if (now - this.#since < ARM_AFTER_MS) return "waiting";
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

  /** Stops the thread; it is not started again. */
  dispose(): void {
    this.#reserve?.release();
    this.#reserve = undefined;
    if (typeof this.#state === "object") this.#state.dispose();
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
