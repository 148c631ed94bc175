/**
 * The overload watch, in the spirit of Envoy's overload manager: it watches
 * what the app cannot count (the holes below it in Deno 2.9, issue #20),
 * acts in steps, and reports each one:
 *
 * 1. Detect, ten times a second, three while the process is quiet
 *    (`QUIET_SAMPLE_MS`; `overload_signals.ts`): RSS growing while
 *    the connections' bytes do not (endless fragments), the event loop late
 *    while messages do not flow (control-frame floods), upgrades whose
 *    socket never opens (reset by the client: a descriptor Deno leaks), the
 *    listener down past its bound.
 * 2. Act, one incident at a time (`incident_actions.ts`): recycle the
 *    listener (every connection closes with 1013 so it can reconnect at
 *    once, the old server is aborted, which cancels every pending WebSocket
 *    read, which is what frees the fragments, and once the old connections
 *    are gone the server listens again on the same port). Under
 *    `deno serve` Deno owns the listener, so uncounted memory ends the
 *    process instead (non-zero, for `Restart=`). Where the process may
 *    destroy sockets and the kernel's count names every attacking
 *    connection, those are aborted instead (`incident_aborts.ts`). While
 *    Deno holds the loop the RSS watchdog thread acts (`watchdog_thread.ts`):
 *    it aborts the connection being read from, and the watch the rest once
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
import { reportIncident } from "./incident_log.ts";
import { IncidentActions } from "./incident_actions.ts";
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
import { WATCHDOG_THREAD_BYTES } from "./rss_watchdog.ts";
import { OwnPeers } from "./own_peers.ts";
import { kernelCounts } from "./socket_bytes.ts";
import { LOOP_HELD_MS } from "../connection/loop_turns.ts";
import {
  LISTENER_DOWN_LIMIT_MS,
  QUIET_RSS_GROWTH_BYTES,
  QUIET_SAMPLE_MS,
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
  /** When the leak and unanswered-close checks last ran (`performance.now()`). */
  #checkedAt = performance.now();
  #due = 0;
  /** The interval to the next sample: {@link SAMPLE_MS} or {@link QUIET_SAMPLE_MS}. */
  #everyMs = SAMPLE_MS;
  /** The sample before {@link #last}: with it, whether nothing moved. */
  #beforeLast: Sample | undefined;
  /** False until the watchdog thread is started or known off. */
  #armed = false;
  /** Cancels the next sample (a core timer: `core_timer.ts`). */
  #cancelTick: Cancel | undefined;
  #last: Sample | undefined;
  /** When the sample before the last ran (`performance.now()`): a turn of the loop. */
  #settledAt = -Infinity;
  #lastAt = -Infinity;
  /** The RSS watchdog thread (`watchdog_arming.ts`, `rss_watchdog.ts`). */
  readonly #watchdog: WatchdogArming;
  /** Tells the started thread of this process's connections (`own_peers.ts`). */
  #own: OwnPeers | undefined;
  /** Leave this sample out of the signals: the watchdog was just started. */
  #skipNext = false;
  /** Acts on incidents, one at a time (`incident_actions.ts`). */
  readonly #incidents: IncidentActions;

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
        ...(options.suspectChannel
          ? { suspectChannel: options.suspectChannel }
          : {}),
        ...(options.watchdogThread ? { thread: options.watchdogThread } : {}),
        // Only a process that owns its listener can recycle it: every
        // connection of the port is its own (not so under `deno serve`).
        portOwned: options.recycle !== undefined,
        onAbort: (abort) => void this.#incidents.threadAborted(abort),
      },
    );
    this.#incidents = new IncidentActions(services, {
      options,
      signals: this.#signals,
      readers: this.#readers,
      last: () => this.#last,
      settledAt: () => this.#settledAt,
      thread: {
        aborting: () => this.#watchdog.aborting(),
        aborts: () => this.#watchdog.aborts(),
      },
    });
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
    this.#incidents.dispose();
    this.#cancelTick = undefined;
    this.#services.turns.sampleDueAt = Infinity;
    this.#services.overload.watching = false;
  }

  /**
   * How long the watch waits between samples now, in ms: {@link SAMPLE_MS},
   * or {@link QUIET_SAMPLE_MS} while the process is quiet.
   */
  get sampleEveryMs(): number {
    return this.#everyMs;
  }

  #schedule(now: number): void {
    this.#everyMs = this.#quiet() ? QUIET_SAMPLE_MS : SAMPLE_MS;
    this.#due = now + this.#everyMs;
    this.#services.turns.sampleDueAt = this.#due;
    // Keeps the process alive until `dispose()`, which shutdown calls.
    this.#cancelTick = after(this.#everyMs, () => this.#tick());
  }

  /**
   * Quiet: nothing held and nothing moved between the last two samples, no
   * incident under way, the listener up and the watchdog thread started.
   */
  #quiet(): boolean {
    const [before, last] = [this.#beforeLast, this.#last];
    if (!before || !last || !this.#armed) return false;
    const { registry, metrics, listener } = this.#services;
    return registry.openCount === 0 && metrics.connectionsOpen === 0 &&
      metrics.streamsOpen === 0 && listener.downSince === undefined &&
      !this.#incidents.acting && !this.#incidents.failing &&
      last.requests === before.requests &&
      last.connectionChanges === before.connectionChanges &&
      last.messagesIn === before.messagesIn &&
      last.messagesOut === before.messagesOut &&
      last.bytesIn === before.bytesIn && last.bytesOut === before.bytesOut &&
      // Under `deno serve` the other workers' clients grow the same RSS.
      last.usedBytes === before.usedBytes &&
      last.rssBytes - before.rssBytes < QUIET_RSS_GROWTH_BYTES;
  }

  #tick(): void {
    const now = performance.now();
    const delayMs = Math.max(0, now - this.#due);
    if (delayMs >= LOOP_HELD_MS) this.#services.turns.heldSeenAt = now;
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
    this.#beforeLast = last;
    this.#last = sample;
    this.#watch(now);
    this.#settledAt = this.#lastAt;
    this.#lastAt = now;
    this.#leaks.tick(Date.now(), delayMs);
    overload.eventLoopDelayMs = Math.round(delayMs);
    if (this.#incidents.failing) return;
    this.#checkListener(now);
    if (this.#incidents.acting) return;
    // The watchdog thread is aborting what held the loop (`thread_joins.ts`):
    // that held stretch is its incident, reported when its message comes.
    if (this.#watchdog.aborting()) return;
    if (this.#skipNext) {
      this.#skipNext = false;
      return;
    }
    const left = this.#incidents.secondReadingDue(now);
    if (left !== undefined) {
      void this.#incidents.recycleFor("uncounted_memory", undefined, left);
      return;
    }
    const cause = this.#signals.add(sample);
    if (cause) {
      void this.#incidents.recycleFor(cause);
      return;
    }
    // Once a second, whatever the interval.
    if (now - this.#checkedAt >= 1000) {
      this.#checkedAt = now;
      this.#checkLeaks();
      this.#checkUnanswered();
    }
  }

  /** Beats the watchdog (the loop turned), or starts it when due. */
  #watch(now: number): void {
    const step = this.#watchdog.tick(now, this.#everyMs === SAMPLE_MS);
    this.#armed = step !== "waiting";
    // What the app saw of its connections with no message yet, for the
    // thread's sweep past MAX_RSS_BYTES on a held loop.
    this.#own?.sample();
    if (typeof step === "object") {
      const message = `RSS watchdog not started: ${step.unavailable}`;
      this.#services.log({ event: "error", message });
    } else if (step === "started" || step === "aborted") {
      this.#services.overload.watchdog = true;
      // Making its isolate held this thread, used CPU (120-240 ms at load
      // average 24) and grew RSS: the watch's own doing, not the clients'.
      // After an abort the held loop and the memory are gone with the
      // attacker: no recycle for them.
      if (step === "started") {
        this.#signals.restart(WATCHDOG_THREAD_BYTES);
        // The connections it may abort on a held loop alone: this
        // process's, as they open and close (at each sample where it owns
        // the port: a message per turn cost every upgrade).
        const own = new OwnPeers((update) => this.#watchdog.peers(update), {
          portOwned: this.#options.recycle !== undefined,
        });
        // Each open also tells the thread the watch is busy, at once
        // (`RssWatchdog.busy`): an attack may hold the loop before the
        // watch's next sample.
        this.#services.registry.observe((connection, open) => {
          if (open) this.#watchdog.busy();
          own.observe(connection, open);
        });
        // And what the app saw of them, for its flood rule (`traffic.ts`).
        this.#services.payloadSeen.tell = own.grew;
        this.#own = own;
      } else this.#signals.reset();
      this.#skipNext = true;
    }
  }

  /** The listener has been down too long: `/healthz` 503, then exit 1. */
  #checkListener(now: number): void {
    const downSince = this.#services.listener.downSince;
    const limit = this.#options.listenerDownLimitMs ?? LISTENER_DOWN_LIMIT_MS;
    if (downSince === undefined || now - downSince < limit) return;
    const record = this.#incidents.record("listener_down", "exit", [], 0);
    this.#incidents.fail(record, "listener_down");
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
    if (!this.#options.recycle || this.#incidents.acting) return;
    const reason = unansweredNow(this.#services);
    if (reason) void this.#incidents.recycleFor("unanswered_closes", reason);
  }

  /**
   * Upgrades whose socket never opened (`upgrade_leaks.ts`); once they
   * starve the process (`descriptor_budget.ts`), it ends for a clean one.
   */
  #checkLeaks(): void {
    const { registry, metrics, listener } = this.#services;
    // Deno reads /proc only with -A: the limit was read from it then. A
    // limit learned from `prlimit` (the tasks, `learned_cap.ts`) says nothing
    // about /proc.
    if (this.#fdLimit !== "unknown") {
      metrics.descriptorsOpen = countOpenDescriptors();
    }
    const found = this.#leaks.count(
      registry.openCount - metrics.connectionsOpen,
      registry.connections(),
      (connection) => {
        metrics.upgradesLeaked++;
        // No live connection: its slot goes, its descriptor counts for good.
        registry.leak(connection);
      },
    );
    const starved = starvedByLeaks({
      leaked: metrics.upgradesLeaked,
      limit:
        this.#fdLimit !== "unknown" || metrics.descriptorLimit === undefined
          ? this.#fdLimit
          : { soft: metrics.descriptorLimit, hard: metrics.descriptorLimit },
      held: metrics.connectionsOpen + metrics.streamsOpen,
      acceptFailures: listener.acceptFailures,
    });
    if (starved) {
      const record = this.#incidents.record("descriptor_leak", "exit", [], 0);
      record.leaked = metrics.upgradesLeaked;
      record.reason = starved;
      const code = EXIT_DESCRIPTORS_LEAKED;
      return this.#incidents.fail(record, "descriptor_leak", code);
    }
    if (!found) return;
    const keys = leakStrikes(
      found.keys,
      registry.connections(),
      this.#services.suspects,
    );
    const record = this.#incidents.record(
      "descriptor_leak",
      "reported",
      keys,
      0,
    );
    record.leaked = found.leaked;
    reportIncident(this.#services, record);
  }
}
