/**
 * What the overload watch does at an incident (step 2 of
 * `overload_watch.ts`), one incident at a time: read the kernel's count and
 * find the clients to strike (`incident_suspects.ts`), then leave a memory
 * incident to the guard while an upload is in flight, abort the attacking
 * connections where the kernel's count names them (`incident_aborts.ts`),
 * recycle the listener, or end the process where nothing else frees what
 * Deno holds. Each incident ends in one `overload_incident` line
 * (`incident_log.ts`); the strikes made before an abort are
 * `incident_strikes.ts`'s. Split from `overload_watch.ts`, which samples the
 * process and calls these when a signal trips; the watch keeps sampling
 * while one runs, and looks afresh once it is reported.
 *
 * @module
 */
import type { IncidentCause } from "../metrics.ts";
import type { IncidentAction, IncidentRecord } from "../services.ts";
import {
  findSuspects,
  IN_FLIGHT_REASON,
  leftToGuard,
  leftToOtherWorker,
  NOT_A_FLOOD,
  notAFlood,
  OTHER_WORKER_REASON,
  OTHER_WORKER_WAIT_MS,
  OthersReading,
  OtherWorkerWait,
  readKernel,
  SECOND_READING_REASON,
  SECOND_READINGS,
  SecondReadings,
  type Suspects,
} from "./incident_suspects.ts";
import { reportIncident } from "./incident_log.ts";
import { incidentRecord } from "./incident_record.ts";
import { abortedKeys, sweptAgain, withThreadAbort } from "./thread_aborts.ts";
import { peerKey } from "./socket_bytes.ts";
import {
  strikeAhead,
  strikingFirst,
  type StruckAhead,
} from "./incident_strikes.ts";
import {
  abortAttackers,
  abortHolding,
  abortStrikes,
  KERNEL_ABORT_REASON,
  KERNEL_GONE_REASON,
  restOfAttack,
  SWEEP_REASON,
} from "./incident_aborts.ts";
import { ABORT_KILL_MARGIN_SHARE, RSS_MARGIN_SHARE } from "./rss_watchdog.ts";
import { ThreadJoins, type ThreadState } from "./thread_joins.ts";
import type { ThreadAbort } from "./watchdog_orders.ts";
import {
  CLOSE_RECYCLE,
  FAIL_EXIT_DELAY_MS,
  LEAK_EXIT_NOTICE_MS,
  type OverloadWatchOptions,
  RECYCLE_DRAIN_MS,
  RELISTEN_LIMIT_MS,
  type WatchedServices,
} from "./overload_watch_options.ts";
import { EXIT_DESCRIPTORS_LEAKED } from "./descriptor_budget.ts";
import type { OverloadSignals, Sample } from "./overload_signals.ts";
import type { ProcessReaders } from "./process_sample.ts";
import { drained, settled } from "./recycle_drain.ts";

/** The reason a recycle past MAX_RSS_BYTES plus its margin gives. */
export const PAST_MARGIN_REASON =
  "RSS past MAX_RSS_BYTES plus RSS_MARGIN_SHARE: the listener is recycled before the watchdog thread would have to end the process";

/**
 * The reason a held loop is only reported when the kernel's count could
 * not be read and upgrades flowed (`OverloadSignals.countUpgrades`).
 */
export const UPGRADES_FLOWED_REASON =
  "the kernel's count could not be read and connections were being opened: judged by timing with upgrades as work, not a flood";

/**
 * Why a `deno serve` worker ends the process at an incident: an abort that
 * fell short, or what the kernel's count showed of its own connections and
 * the other workers'.
 */
export function serveExitReason(
  taken: { short?: string } | undefined | false,
  suspects: Suspects,
  waitedMs = 0,
): string {
  if (taken && taken.short) return `aborting fell short: ${taken.short}`;
  const unseen = Object.keys(suspects.unseen).length;
  const waited = waitedMs > 0
    ? `; waited ${Math.round(waitedMs)} ms past plus ${
      ABORT_KILL_MARGIN_SHARE * 100
    }% for them`
    : "";
  return `nothing of this worker's to abort (${unseen} past their allowance, ${suspects.holding.peers.length} holding, ${suspects.othersReading} other workers' sockets bringing bytes${waited})`;
}

/**
 * Why a `deno serve` worker that found nothing it could take reports
 * instead of ending the process: RSS is under MAX_RSS_BYTES plus
 * `RSS_MARGIN_SHARE`. A worker had ended the process at 264.1 MB, under
 * MAX_RSS_BYTES 256 MiB itself, with "1 past their allowance" not aborted
 * (its key struck for a close left unanswered too, so `abortAttackers`
 * tried nothing): the soak's unanswered_close x4 under `deno task serve`,
 * acced8e, load 20. Past MAX_RSS_BYTES the sweep (`abortHolding`) takes
 * that connection at the next incident; past plus `RSS_MARGIN_SHARE` the
 * process ends as before, and the watchdog thread's lines are unchanged.
 */
export const UNDER_MARGIN_REASON =
  "under MAX_RSS_BYTES plus RSS_MARGIN_SHARE: the process is not ended before then";

/** What the incidents read from the watch that samples the process. */
export interface WatchState {
  signals: OverloadSignals;
  readers: ProcessReaders;
  /** The last sample taken, if any. */
  last(): Sample | undefined;
  /** When the sample before the last ran (`performance.now()`). */
  settledAt(): number;
  /** The RSS watchdog thread, once it may run (`thread_joins.ts`). */
  thread?: ThreadState;
}

/**
 * Acts on the overload watch's incidents. `acting` is set from an
 * incident's start until its report; `failing` once the process is to
 * exit. `dispose()` cancels a pending exit.
 */
export class IncidentActions {
  readonly #services: WatchedServices;
  readonly #options: OverloadWatchOptions;
  readonly #watch: WatchState;
  readonly #secondReadings = new SecondReadings();
  readonly #others = new OthersReading();
  readonly #otherWorkerWait = new OtherWorkerWait();
  /** The thread's aborts joined to the incident under way. */
  readonly #joins: ThreadJoins;
  #exitTimer: ReturnType<typeof setTimeout> | undefined;
  /** An incident is being acted on: the watch does not start another. */
  acting = false;
  /** The process is to exit: the watch only samples. */
  failing = false;

  constructor(
    services: WatchedServices,
    watch: WatchState & { options: OverloadWatchOptions },
  ) {
    this.#services = services;
    this.#options = watch.options;
    this.#watch = watch;
    this.#joins = new ThreadJoins(watch.thread, watch.options.threadJoinMs);
  }

  /** Cancels a pending exit (for tests and shutdown). */
  dispose(): void {
    clearTimeout(this.#exitTimer);
  }

  /**
   * The count of second readings left, when a memory incident left to the
   * guard is due to be read again at `now` (`SECOND_READING_MS`).
   */
  secondReadingDue(now: number): number | undefined {
    return this.#secondReadings.due(now);
  }

  /** The clients to strike (`incident_suspects.ts`). */
  async #suspects(cause: IncidentCause): Promise<Suspects> {
    const reading = await readKernel(
      this.#options.socketBytes,
      cause,
      this.#options.recycle !== undefined,
    );
    const { calmSince, troubleSince } = this.#watch.signals;
    const settledAt = this.#watch.settledAt();
    const moments = { settledAt, calmSince, troubleSince };
    return findSuspects(this.#services, moments, reading, this.#others);
  }

  /**
   * Strikes `keys` (unless `ahead` struck them already), counts the
   * incident and builds its record.
   */
  record(
    cause: IncidentCause,
    action: IncidentAction,
    keys: string[],
    closed: number,
    evidence?: Suspects,
    ahead?: StruckAhead,
  ): IncidentRecord {
    return incidentRecord(this.#services, {
      cause,
      action,
      keys: ahead ? ahead.keys : keys,
      closed,
      last: this.#watch.last(),
      cpuShare: this.#watch.signals.cpuShare,
      ...(evidence ? { evidence } : {}),
      ...(ahead ? { strikes: ahead.strikes } : {}),
    });
  }

  /**
   * The RSS watchdog thread aborted connections while the loop was held
   * (the one Deno was reading: past MAX_RSS_BYTES, or a flood of frames
   * Deno answers itself): now that it turned, the rest of the attack
   * the kernel's count names is aborted too (`incident_aborts.ts`), so one
   * incident takes every attacking connection and no recycle follows for
   * them. Their clients are struck and the incident reported.
   */
  async threadAborted(abort: ThreadAbort): Promise<void> {
    this.#joins.heard();
    // Busy with an incident of its own, which takes the rest and this
    // abort (`thread_joins.ts`: one held stretch, one incident).
    const busy = this.acting;
    this.acting = true;
    const services = this.#services;
    const { suspects } = services;
    // The thread's are struck before the kernel's count is awaited: their
    // clients reconnect at once, and an upgrade served meanwhile, by this
    // worker or another (`deno serve`), was admitted (a pong flooder's
    // third try got 101, issue #20).
    // The watch may have struck them for this held stretch already, when
    // the loop turned before this message came (`heldSince`: the
    // stretch's start, not a time back from now: a quiet machine's
    // attacker is back within 1 s, and its next try was taken for this
    // one); only the aborted connections tell a new try.
    const cut = [...abort.peers, ...abort.swept ?? []];
    const held = {
      heldSince: abort.heldSince,
      peers: new Set(cut.map((p) => peerKey(p.hostname, p.port))),
    };
    const first = strikeAhead(
      services,
      [
        ...new Set([
          ...abortStrikes(abortedKeys(services, abort.peers), suspects),
          ...sweptAgain(services, abort),
        ]),
      ],
      held,
    );
    const evidence = busy ? undefined : await this.#suspects(abort.cause);
    const { socketAbort } = this.#options;
    const rest = restOfAttack(services, { abort, evidence, socketAbort });
    const more = strikeAhead(
      services,
      abortStrikes(rest.keys, suspects).filter((key) =>
        !first.keys.includes(key)
      ),
      { heldSince: held.heldSince },
    );
    const ahead = {
      keys: [...first.keys, ...more.keys],
      strikes: [...first.strikes, ...more.strikes],
    };
    if (busy) return this.#joins.join({ abort, aborted: rest.aborted, ahead });
    const record = this.record(abort.cause, "aborted", [], 0, evidence, ahead);
    withThreadAbort(record, abort).aborted = rest.aborted;
    await this.#settled(record);
  }

  /** After aborts: the memory guard admits on what is left, then reports. */
  async #settled(record: IncidentRecord): Promise<void> {
    const { readRss } = this.#watch.readers;
    await settled(
      this.#services,
      readRss,
      performance.now() + RECYCLE_DRAIN_MS,
    );
    record.rssAfterBytes = readRss();
    await this.#reported(record);
  }

  /**
   * Reports `record` once the thread has finished an abort it began, with
   * the thread's aborts of its held stretch joined to it
   * (`thread_joins.ts`), and the watch looks afresh: the incident is over.
   */
  async #reported(record: IncidentRecord): Promise<void> {
    await this.#joins.settled();
    this.#joins.fold(record, this.#services.metrics);
    reportIncident(this.#services, record);
    this.#watch.signals.reset();
    this.acting = false;
  }

  /**
   * Ends an incident that logs nothing: the thread's aborts joined to it
   * meanwhile are then an incident of their own.
   */
  #unreported(): Promise<void> | void {
    const [first, ...others] = this.#joins.take();
    if (!first) {
      this.acting = false;
      return;
    }
    const { abort, aborted, ahead } = first;
    const record = this.record(abort.cause, "aborted", [], 0, undefined, ahead);
    withThreadAbort(record, abort).aborted = aborted;
    for (const joined of others) this.#joins.join(joined);
    return this.#reported(record);
  }

  /**
   * Acts on an incident of `cause`. `secondReadings` is set when this is a
   * second reading after a memory incident left to the guard
   * (`SECOND_READING_MS`): it acts only on a key struck now, and logs
   * nothing otherwise.
   */
  async recycleFor(
    cause: IncidentCause,
    reason?: string,
    secondReadings?: number,
  ): Promise<void> {
    this.acting = true;
    const { registry, metrics, overload } = this.#services;
    // Judged before anything closes: a closed socket leaves the kernel's
    // table.
    const suspects = await this.#suspects(cause);
    const rssBytes = this.#watch.last()?.rssBytes ?? 0;
    const config = this.#services.config;
    const guards = leftToGuard(cause, suspects, rssBytes, config);
    if (secondReadings !== undefined && (guards || !suspects.struck.length)) {
      this.#secondReadings.after(
        suspects,
        secondReadings - 1,
        performance.now(),
      );
      return this.#unreported();
    }
    if (cause === "event_loop_stall" && notAFlood(suspects)) {
      const record = this.record(cause, "reported", [], 0, suspects);
      record.reason = NOT_A_FLOOD;
      return this.#reported(record);
    }
    if (
      cause === "event_loop_stall" && !suspects.counted &&
      this.#watch.signals.countUpgrades()
    ) {
      const record = this.record(cause, "reported", [], 0, suspects);
      record.reason = UPGRADES_FLOWED_REASON;
      return this.#reported(record);
    }
    const struck = suspects.struck;
    // An abort's keys are struck right before its first `ss -K`: the
    // clients it cuts reconnect at once, and under `deno serve` another
    // worker admitted them until it was told of the listing (a repeat
    // attacker's third try got 101 after fragments, pongs and empty
    // frames, issue #20). Struck so, they stay struck whatever follows
    // (an abort that fell short, then a recycle).
    let ahead: StruckAhead | undefined;
    const socketAbort = strikingFirst(this.#options.socketAbort, (peers) => {
      ahead ??= strikeAhead(
        this.#services,
        abortStrikes(struck, this.#services.suspects),
        { cut: peers },
      );
    });
    if (guards) {
      // Acts only by logging, so it strikes nobody: what it found is at
      // most closes left unanswered, the guard's own sheds of clients that
      // do not read (34 of 64 non-readers struck in an attack review).
      const record = this.record(cause, "reported", [], 0, suspects);
      record.reason = IN_FLIGHT_REASON;
      this.#secondReadings.after(suspects, SECOND_READINGS, performance.now());
      return this.#reported(record);
    }
    const recycle = this.#options.recycle;
    // Past MAX_RSS_BYTES plus its margin, a listener that can be recycled
    // is, before the watchdog thread would have to end the process
    // (an attack review: aborts kept 10-36 of ~400 connections, SIGKILL at
    // 1.86x). Under it, past MAX_RSS_BYTES, every connection holding
    // unseen bytes with no complete message is aborted with the named
    // ones in one round (`abortHolding`).
    const pastMargin = cause === "uncounted_memory" && recycle !== undefined &&
      rssBytes >= config.maxRssBytes * (1 + RSS_MARGIN_SHARE);
    const sweep = cause === "uncounted_memory" && !pastMargin &&
      rssBytes >= config.maxRssBytes &&
      abortHolding(socketAbort, suspects);
    const taken = sweep ||
      (cause !== "unanswered_closes" && !pastMargin &&
        abortAttackers(this.#services, socketAbort, suspects));
    if (taken && taken.short === undefined) {
      // A sweep strikes only the named: the holding connections it
      // aborted may be honest first messages in flight.
      const record = this.record(cause, "aborted", [], 0, suspects, ahead);
      record.aborted = taken.aborted;
      record.reason = sweep
        ? SWEEP_REASON
        : taken.aborted > 0
        ? KERNEL_ABORT_REASON
        : KERNEL_GONE_REASON;
      return this.#settled(record);
    }
    if (!recycle) {
      // Under `deno serve` only the process can free what Deno collects,
      // unless it is another worker's to free.
      // Past plus ABORT_KILL_MARGIN_SHARE, it waits a while for the worker
      // whose sockets bring the bytes (its thread acts on its held loop).
      const pastLine = suspects.othersReading > 0 &&
        rssBytes >= config.maxRssBytes * (1 + ABORT_KILL_MARGIN_SHARE);
      const waited = this.#otherWorkerWait.waited(pastLine, performance.now());
      if (leftToOtherWorker(cause, suspects, rssBytes, config, waited)) {
        const record = this.record(cause, "reported", [], 0, suspects, ahead);
        record.reason = suspects.othersUnknown
          ? `${OTHER_WORKER_REASON} (a first reading of the kernel's count: the next tells what their sockets bring)`
          : pastLine
          ? `${OTHER_WORKER_REASON} (past plus ${
            ABORT_KILL_MARGIN_SHARE * 100
          }% for ${Math.round(waited)} of ${OTHER_WORKER_WAIT_MS} ms)`
          : OTHER_WORKER_REASON;
        return this.#reported(record);
      }
      // Under plus RSS_MARGIN_SHARE nothing ends the process: past
      // MAX_RSS_BYTES the sweep takes the holders at the next incident.
      const action = cause === "uncounted_memory" &&
          rssBytes >= config.maxRssBytes * (1 + RSS_MARGIN_SHARE)
        ? "exit"
        : "reported";
      const record = this.record(cause, action, struck, 0, suspects, ahead);
      if (cause === "uncounted_memory" && action === "reported") {
        record.reason = `${
          serveExitReason(taken, suspects)
        }; ${UNDER_MARGIN_REASON}`;
      }
      if (action === "exit") {
        // Why nothing else would do, for the log (the serve exits an attack
        // review met said nothing).
        record.reason = serveExitReason(taken, suspects, waited);
        return this.fail(record, cause);
      }
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
    const record = this.record(
      cause,
      "recycled",
      struck,
      closed,
      suspects,
      ahead,
    );
    const short = taken && taken.short;
    if (reason ?? short) {
      record.reason = reason ?? `aborting fell short: ${short}`;
    }
    if (pastMargin) record.reason = PAST_MARGIN_REASON;
    if (secondReadings !== undefined) record.reason = SECOND_READING_REASON;
    try {
      record.downMs = await recycle(
        () =>
          drained(
            this.#services,
            this.#watch.readers.readRss,
            performance.now() + RECYCLE_DRAIN_MS,
          ),
        RELISTEN_LIMIT_MS,
      );
      metrics.recycles++;
    } catch (error) {
      record.action = "exit";
      record.error = String((error as Error)?.message ?? error);
      return this.fail(record, cause);
    }
    record.rssAfterBytes = this.#watch.readers.readRss();
    overload.status = "ok";
    await this.#reported(record);
  }

  /**
   * `/healthz` turns 503 now; the process exits with `code` shortly after:
   * 1 at once, or {@link EXIT_DESCRIPTORS_LEAKED} after
   * `LEAK_EXIT_NOTICE_MS` more, once the connections are drained (nothing
   * grows there that a drain would let grow further).
   */
  fail(record: IncidentRecord, cause: IncidentCause, code = 1): void {
    if (this.failing) return;
    this.failing = true;
    this.acting = true;
    this.#services.overload.status = "failing";
    record.cause = cause;
    this.#joins.fold(record, this.#services.metrics);
    reportIncident(this.#services, record);
    const exit = this.#options.exit ?? ((code: number) => Deno.exit(code));
    const drain = code === EXIT_DESCRIPTORS_LEAKED
      ? this.#options.drain
      : undefined;
    const options = this.#options;
    this.#exitTimer = setTimeout(
      () => drain ? drain().finally(() => exit(code)) : exit(code),
      drain
        ? options.leakExitNoticeMs ?? LEAK_EXIT_NOTICE_MS
        : options.failExitDelayMs ?? FAIL_EXIT_DELAY_MS,
    );
  }
}
