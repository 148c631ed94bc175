/**
 * The overload watch, in the spirit of Envoy's overload manager: it watches
 * what the app cannot count (the holes below it in Deno 2.9, issue #20),
 * acts in steps, and reports each one:
 *
 * 1. Detect, ten times a second (`overload_signals.ts`): RSS growing while
 *    the connections' bytes do not (endless fragments), the event loop late
 *    while messages do not flow (control-frame floods), upgrades whose
 *    socket never opens (reset by the client: a descriptor Deno leaks), the
 *    listener down past its bound.
 * 2. Act: recycle the listener (every connection closes with 1013 so it can
 *    reconnect at once, the old server is aborted, which cancels every
 *    pending WebSocket read, which is what frees the fragments, and once the
 *    old connections are gone the server listens again on the same port).
 *    Under `deno serve` Deno owns the listener, so uncounted memory ends the
 *    process instead (non-zero, for `Restart=`). Where the process may
 *    destroy sockets and the kernel's count names every attacking
 *    connection, those are aborted instead (`incident_aborts.ts`). While
 *    Deno holds the loop the RSS watchdog thread acts (`watchdog_thread.ts`):
 *    it aborts the connection being read from, and this watch the rest once
 *    the loop turns; or it ends the process.
 * 3. Attribute: the client whose connection brought bytes the app never
 *    saw (the kernel's count, `ss`), or else showed no flow during the
 *    trouble, is struck (`incident_suspects.ts`); two strikes with no
 *    vouching between refuse its address for a while (`suspects.ts`).
 * 4. Fail visibly: a listener that cannot accept within its bound turns
 *    `/healthz` 503, then the process exits with 1; leaked upgrades that
 *    starve it of descriptors (`descriptor_budget.ts`) turn it 503, drain
 *    the connections, and exit with 75, as only a restart frees them.
 *
 * One log line per incident, `overload_incident`, says what was seen and
 * done; `/healthz` shows the watch's state, `/metrics` and OpenTelemetry
 * count incidents, recycles, closes and listings.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";
import type { IncidentCause } from "../metrics.ts";
import type { IncidentAction, IncidentRecord } from "../services.ts";
import {
  findSuspects,
  IN_FLIGHT_REASON,
  leftToGuard,
  NOT_A_FLOOD,
  notAFlood,
  readKernel,
  SECOND_READING_REASON,
  SECOND_READINGS,
  SecondReadings,
  type Suspects,
} from "./incident_suspects.ts";
import { reportIncident } from "./incident_log.ts";
import { incidentRecord } from "./incident_record.ts";
import { withThreadAbort } from "./thread_aborts.ts";
import {
  abortAttackers,
  abortStrikes,
  KERNEL_ABORT_REASON,
  restOfAttack,
} from "./incident_aborts.ts";
import type { ThreadAbort } from "./watchdog_thread.ts";
import type {
  OverloadWatchOptions,
  WatchedServices,
} from "./overload_watch_options.ts";
import { fairShare, processCpuMs } from "./cpu_share.ts";
import { leakStrikes, UpgradeLeaks } from "./upgrade_leaks.ts";
import { unansweredNow } from "./unanswered_closes.ts";
import {
  countOpenDescriptors,
  EXIT_DESCRIPTORS_LEAKED,
  starvedByLeaks,
} from "./descriptor_budget.ts";
import { type OpenFileLimit, readOpenFileLimit } from "./fd_limit.ts";
import { OverloadSignals, type Sample } from "./overload_signals.ts";
import { type ProcessReaders, takeSample } from "./process_sample.ts";
import { WatchdogArming } from "./watchdog_arming.ts";
import { kernelCounts } from "./socket_bytes.ts";
import { drained, settled } from "./recycle_drain.ts";

import {
  CLOSE_RECYCLE,
  FAIL_EXIT_DELAY_MS,
  LISTENER_DOWN_LIMIT_MS,
  RECYCLE_DRAIN_MS,
  RELISTEN_LIMIT_MS,
  SAMPLE_MS,
} from "./overload_watch_options.ts";

/** Samples the process and acts on incidents; `dispose()` stops it. */
export class OverloadWatch {
  readonly #services: WatchedServices;
  readonly #options: OverloadWatchOptions;
  readonly #signals: OverloadSignals;
  readonly #readers: ProcessReaders;
  readonly #leaks = new UpgradeLeaks();
  readonly #fdLimit: OpenFileLimit | "unknown";
  #ticks = 0;
  #acting = false;
  #failing = false;
  #due = 0;
  /** Cancels the next sample (a core timer: `core_timer.ts`). */
  #cancelTick: Cancel | undefined;
  #exitTimer: ReturnType<typeof setTimeout> | undefined;
  #last: Sample | undefined;
  /** When the sample before the last ran (`performance.now()`): a turn of the loop. */
  #settledAt = -Infinity;
  #lastAt = -Infinity;
  /** The RSS watchdog thread (`watchdog_arming.ts`, `rss_watchdog.ts`). */
  readonly #watchdog: WatchdogArming;
  /** Leave this sample out of the signals: the watchdog was just started. */
  #skipNext = false;
  readonly #secondReadings = new SecondReadings();

  constructor(services: WatchedServices, options: OverloadWatchOptions = {}) {
    this.#services = services;
    this.#options = options;
    const { config } = services;
    this.#signals = new OverloadSignals({
      maxRssBytes: config.maxRssBytes,
      stallMs: config.eventLoopStallMs,
      // Without a recycle the only action is ending the process.
      earlyTrip: options.recycle !== undefined,
      // Without the kernel's count a burst of upgrades is work: a stall
      // would be judged by timing alone (`overload_sample.ts`).
      upgradesFlow: !options.socketBytes ||
        kernelCounts() !== "ss",
    });
    this.#readers = {
      readRss: options.readRss ?? (() => Deno.memoryUsage().rss),
      readCpuMs: options.readCpuMs ?? processCpuMs,
      readFairShare: options.readFairShare ?? fairShare,
    };
    // The thread reads the process's own RSS: pointless beside a fake one.
    this.#watchdog = new WatchdogArming(
      options.watchdog === true && !options.readRss,
      config,
      {
        ...(options.port ? { port: options.port } : {}),
        onAbort: (abort) => void this.#threadAborted(abort),
      },
    );
    this.#fdLimit = (options.readOpenFileLimit ?? readOpenFileLimit)();
    if (this.#fdLimit !== "unknown" && this.#fdLimit.soft !== Infinity) {
      services.metrics.descriptorLimit = this.#fdLimit.soft;
    }
    services.overload.watching = true;
    this.#schedule(performance.now());
  }

  /** Stops sampling (and a pending exit: for tests and shutdown). */
  dispose(): void {
    this.#watchdog.dispose();
    this.#services.overload.watchdog = false;
    this.#cancelTick?.();
    clearTimeout(this.#exitTimer);
    this.#cancelTick = undefined;
    this.#services.overload.watching = false;
  }

  #schedule(now: number): void {
    this.#due = now + SAMPLE_MS;
    // Keeps the process alive until `dispose()`, which shutdown calls.
    this.#cancelTick = after(SAMPLE_MS, () => this.#tick());
  }

  #tick(): void {
    const now = performance.now();
    const delayMs = Math.max(0, now - this.#due);
    this.#schedule(now);
    try {
      this.#sample(now, delayMs);
    } catch (error) {
      // A bug in the watch must not end the process it guards.
      this.#services.log({ event: "error", message: String(error) });
    }
  }

  #sample(now: number, delayMs: number): void {
    const { overload } = this.#services;
    const last = this.#last;
    const sample = takeSample(this.#services, this.#readers, {
      at: now,
      delayMs,
      last,
    });
    this.#last = sample;
    this.#watch(now);
    this.#settledAt = this.#lastAt;
    this.#lastAt = now;
    this.#leaks.tick(Date.now(), delayMs);
    overload.eventLoopDelayMs = Math.round(delayMs);
    if (this.#failing) return;
    this.#checkListener(now);
    if (this.#acting) return;
    if (this.#skipNext) {
      this.#skipNext = false;
      return;
    }
    const left = this.#secondReadings.due(now);
    if (left !== undefined) {
      void this.#recycleFor("uncounted_memory", undefined, left);
      return;
    }
    const cause = this.#signals.add(sample);
    if (cause) {
      void this.#recycleFor(cause);
      return;
    }
    if (++this.#ticks % 10 === 0) {
      this.#checkLeaks();
      this.#checkUnanswered();
    }
  }

  /** Beats the watchdog (the loop turned), or starts it when due. */
  #watch(now: number): void {
    const step = this.#watchdog.tick(now);
    if (typeof step === "object") {
      const message = `RSS watchdog not started: ${step.unavailable}`;
      this.#services.log({ event: "error", message });
    } else if (step === "started" || step === "aborted") {
      this.#services.overload.watchdog = true;
      // Making its isolate held this thread and used CPU (120-240 ms at
      // load average 24): the watch's own doing, not the clients'. After
      // an abort the held loop and the memory are gone with the attacker:
      // no recycle for them.
      this.#signals.reset();
      this.#skipNext = true;
    }
  }

  /** The listener has been down too long: `/healthz` 503, then exit 1. */
  #checkListener(now: number): void {
    const downSince = this.#services.listener.downSince;
    const limit = this.#options.listenerDownLimitMs ?? LISTENER_DOWN_LIMIT_MS;
    if (downSince === undefined || now - downSince < limit) return;
    this.#fail(this.#record("listener_down", "exit", [], 0), "listener_down");
  }

  /**
   * Closes the clients never answered, holding their sockets until a
   * recycle (Deno has no close timeout): once they hold a tenth of what the
   * clients hold (`unanswered_closes.ts`), recycle. Their addresses are
   * struck like any close left unanswered (`overload_attribution.ts`).
   */
  #checkUnanswered(): void {
    // Under `deno serve` nothing the app does frees them: `/healthz` shows
    // the count.
    if (!this.#options.recycle || this.#acting) return;
    const reason = unansweredNow(this.#services);
    if (reason) void this.#recycleFor("unanswered_closes", reason);
  }

  /**
   * Upgrades whose socket never opened (`upgrade_leaks.ts`); once they
   * starve the process (`descriptor_budget.ts`), it ends for a clean one.
   */
  #checkLeaks(): void {
    const { registry, metrics, listener } = this.#services;
    // The same condition as the limit: Deno reads /proc only with -A.
    if (metrics.descriptorLimit !== undefined) {
      metrics.descriptorsOpen = countOpenDescriptors();
    }
    const found = this.#leaks.count(
      registry.openCount - metrics.connectionsOpen,
      registry.connections(),
      () => metrics.upgradesLeaked++,
    );
    const starved = starvedByLeaks({
      leaked: metrics.upgradesLeaked,
      limit: this.#fdLimit,
      held: metrics.connectionsOpen + metrics.streamsOpen,
      acceptFailures: listener.acceptFailures,
    });
    if (starved) {
      const record = this.#record("descriptor_leak", "exit", [], 0);
      record.leaked = metrics.upgradesLeaked;
      record.reason = starved;
      return this.#fail(record, "descriptor_leak", EXIT_DESCRIPTORS_LEAKED);
    }
    if (!found) return;
    const keys = leakStrikes(
      found.keys,
      registry.connections(),
      this.#services.suspects,
    );
    const record = this.#record("descriptor_leak", "reported", keys, 0);
    record.leaked = found.leaked;
    reportIncident(this.#services, record);
  }

  /** The clients to strike (`incident_suspects.ts`). */
  async #suspects(cause: IncidentCause): Promise<Suspects> {
    const reading = await readKernel(
      this.#options.socketBytes,
      cause,
      this.#options.recycle !== undefined,
    );
    const { calmSince, troubleSince } = this.#signals;
    const settledAt = this.#settledAt;
    const moments = { settledAt, calmSince, troubleSince };
    return findSuspects(this.#services, moments, reading);
  }

  /** Strikes `keys`, counts the incident and builds its record. */
  #record(
    cause: IncidentCause,
    action: IncidentAction,
    keys: string[],
    closed: number,
    evidence?: Suspects,
  ): IncidentRecord {
    return incidentRecord(this.#services, {
      cause,
      action,
      keys,
      closed,
      last: this.#last,
      cpuShare: this.#signals.cpuShare,
      ...(evidence ? { evidence } : {}),
    });
  }

  /**
   * The RSS watchdog thread aborted connections while the loop was held
   * (the one Deno was reading): now that it turned, the rest of the attack
   * the kernel's count names is aborted too (`incident_aborts.ts`), so one
   * incident takes every attacking connection and no recycle follows for
   * them. Their clients are struck and the incident reported.
   */
  async #threadAborted(abort: ThreadAbort): Promise<void> {
    // Busy with an incident of its own, which takes the rest.
    const busy = this.#acting;
    this.#acting = true;
    const evidence = busy
      ? undefined
      : await this.#suspects("uncounted_memory");
    const { socketAbort } = this.#options;
    const rest = restOfAttack(this.#services, { abort, evidence, socketAbort });
    const keys = abortStrikes(rest.keys, this.#services.suspects);
    const record = this.#record(
      "uncounted_memory",
      "aborted",
      keys,
      0,
      evidence,
    );
    withThreadAbort(record, abort).aborted = rest.aborted;
    if (busy) return reportIncident(this.#services, record);
    await this.#settled(record);
  }

  /** After aborts: the memory guard admits on what is left, then reports. */
  async #settled(record: IncidentRecord): Promise<void> {
    const { readRss } = this.#readers;
    await settled(
      this.#services,
      readRss,
      performance.now() + RECYCLE_DRAIN_MS,
    );
    record.rssAfterBytes = readRss();
    this.#reported(record);
  }

  /** Reports `record`, and the watch looks afresh: the incident is over. */
  #reported(record: IncidentRecord): void {
    reportIncident(this.#services, record);
    this.#signals.reset();
    this.#acting = false;
  }

  /**
   * Acts on an incident of `cause`. `secondReadings` is set when this is a
   * second reading after a memory incident left to the guard
   * (`SECOND_READING_MS`): it acts only on a key struck now, and logs
   * nothing otherwise.
   */
  async #recycleFor(
    cause: IncidentCause,
    reason?: string,
    secondReadings?: number,
  ): Promise<void> {
    this.#acting = true;
    const { registry, metrics, overload } = this.#services;
    // Judged before anything closes: a closed socket leaves the kernel's
    // table.
    const suspects = await this.#suspects(cause);
    const rssBytes = this.#last?.rssBytes ?? 0;
    const config = this.#services.config;
    const guards = leftToGuard(cause, suspects, rssBytes, config);
    if (secondReadings !== undefined && (guards || !suspects.struck.length)) {
      this.#secondReadings.after(
        suspects,
        secondReadings - 1,
        performance.now(),
      );
      this.#acting = false;
      return;
    }
    if (cause === "event_loop_stall" && notAFlood(suspects)) {
      const record = this.#record(cause, "reported", [], 0, suspects);
      record.reason = NOT_A_FLOOD;
      return this.#reported(record);
    }
    const struck = suspects.struck;
    if (guards) {
      // Acts only by logging, so it strikes nobody: what it found is at
      // most closes left unanswered, the guard's own sheds of clients that
      // do not read (34 of 64 non-readers struck, stranger F3).
      const record = this.#record(cause, "reported", [], 0, suspects);
      record.reason = IN_FLIGHT_REASON;
      this.#secondReadings.after(suspects, SECOND_READINGS, performance.now());
      return this.#reported(record);
    }
    const taken = cause !== "unanswered_closes" &&
      abortAttackers(this.#services, this.#options.socketAbort, suspects);
    if (taken && taken.short === undefined) {
      const keys = abortStrikes(struck, this.#services.suspects);
      const record = this.#record(cause, "aborted", keys, 0, suspects);
      record.aborted = taken.aborted;
      record.reason = KERNEL_ABORT_REASON;
      return this.#settled(record);
    }
    const recycle = this.#options.recycle;
    if (!recycle) {
      // Under `deno serve` only the process can free what Deno collects.
      const action = cause === "uncounted_memory" ? "exit" : "reported";
      const record = this.#record(cause, action, struck, 0, suspects);
      if (action === "exit") return this.#fail(record, cause);
      return this.#reported(record);
    }
    overload.status = "recycling";
    // The close frames are queued now and the old server retired at once,
    // with no turn of the loop in between (a turn of a held loop can take
    // seconds while memory grows: peak RSS 318-446 MiB with one, 191
    // without, at MAX_RSS_BYTES 256 MiB). The retirement writes no close of
    // its own, so every client gets this 1013 (`listener.ts`, `recycle`).
    const closed = registry.closeEvery(CLOSE_RECYCLE, true);
    metrics.recycleCloses += closed;
    const record = this.#record(cause, "recycled", struck, closed, suspects);
    const short = taken && taken.short;
    if (reason ?? short) {
      record.reason = reason ?? `aborting fell short: ${short}`;
    }
    if (secondReadings !== undefined) record.reason = SECOND_READING_REASON;
    try {
      record.downMs = await recycle(
        () =>
          drained(
            this.#services,
            this.#readers.readRss,
            performance.now() + RECYCLE_DRAIN_MS,
          ),
        RELISTEN_LIMIT_MS,
      );
      metrics.recycles++;
    } catch (error) {
      record.action = "exit";
      record.error = String((error as Error)?.message ?? error);
      return this.#fail(record, cause);
    }
    record.rssAfterBytes = this.#readers.readRss();
    overload.status = "ok";
    this.#reported(record);
  }

  /**
   * `/healthz` turns 503 now; the process exits with `code` shortly after:
   * 1 at once, or {@link EXIT_DESCRIPTORS_LEAKED} once the connections are
   * drained (nothing grows there that a drain would let grow further).
   */
  #fail(record: IncidentRecord, cause: IncidentCause, code = 1): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#acting = true;
    this.#services.overload.status = "failing";
    record.cause = cause;
    reportIncident(this.#services, record);
    const exit = this.#options.exit ?? ((code: number) => Deno.exit(code));
    const drain = code === EXIT_DESCRIPTORS_LEAKED
      ? this.#options.drain
      : undefined;
    this.#exitTimer = setTimeout(
      () => drain ? drain().finally(() => exit(code)) : exit(code),
      this.#options.failExitDelayMs ?? FAIL_EXIT_DELAY_MS,
    );
  }
}
