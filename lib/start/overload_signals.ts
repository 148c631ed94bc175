/**
 * What the overload watch reads into an incident, with no I/O: each sample
 * (RSS, the bytes the connections account for, the event loop's delay, the
 * messages received) goes in, and a cause comes out when the process is in
 * trouble the app cannot count:
 *
 * - `uncounted_memory`: RSS near MAX_RSS_BYTES and growing while neither
 *   the bytes the connections account for nor the payload moved do (Deno
 *   collecting an endless fragmented message: 150-400 MiB/s per attacker,
 *   issue #20), within one window or, where the listener can be recycled,
 *   over a run of windows that each grew (a slow attacker, or one a busy
 *   machine slows).
 * - `event_loop_stall`: the event loop late by EVENT_LOOP_STALL_MS on
 *   average for about a second, or the process busy for two, using the CPU
 *   (not paused by its host), while messages and plain requests do not
 *   flow (control-frame floods: a timer 1-1.5 s late under one pong flood,
 *   0.4-0.55 s under empty continuation frames, `deno run -A
 *   bench/overload_facts.ts stall`).
 *
 * @module
 */
import {
  flowing,
  ownDoing,
  type Sample,
  uncountedGrowth,
} from "./overload_sample.ts";

export {
  CONNECTION_BYTES,
  FLOWING_BYTES_PER_SECOND,
  FLOWING_MESSAGES_PER_SECOND,
  FLOWING_REQUESTS_PER_SECOND,
  OWN_CPU,
  type Sample,
} from "./overload_sample.ts";

/** The thresholds; 0 turns a detector off. */
export interface SignalLimits {
  /** MAX_RSS_BYTES. */
  maxRssBytes: number;
  /** EVENT_LOOP_STALL_MS. */
  stallMs: number;
  /**
   * Whether uncounted growth trips from {@link EARLY_SHARE}: false where the
   * only action is ending the process (`deno serve`, where Deno owns the
   * listener), which then acts only from {@link NEAR_SHARE}: 32 clients
   * echoing 1 MiB messages grew RSS by 200 MiB and ended the process at
   * MAX_RSS_BYTES 400 MiB (attack review, issue #20). @default true
   */
  earlyTrip?: boolean;
  /**
   * Whether upgrades count as flow: true where the kernel's count cannot be
   * read (`FLOWING_REQUESTS_PER_SECOND`). @default false
   */
  upgradesFlow?: boolean;
}

/**
 * Near the limit: from this share of MAX_RSS_BYTES, growth nobody accounts
 * for of {@link NEAR_GROWTH_SHARE} trips the memory detector.
 */
export const NEAR_SHARE = 0.9;
/** Uncounted growth within {@link WINDOW_MS} that trips near the limit (12 MiB at 400 MiB). */
export const NEAR_GROWTH_SHARE = 0.03;
/**
 * Early: from this share of MAX_RSS_BYTES, uncounted growth of
 * {@link EARLY_GROWTH_SHARE} trips already. Deno collects fragments inside
 * one op that holds the event loop for longer the more it has collected
 * (timers 2-3 s late past ~250 MiB, `deno run -A bench/overload_facts.ts
 * stall frag`), and the watch only samples between those stretches: waiting
 * for the limit would let RSS overshoot by seconds of growth.
 */
export const EARLY_SHARE = 0.5;
/**
 * Uncounted growth within {@link WINDOW_MS} that trips early (32 MiB at 400
 * MiB); where early trips are on, also growth since the run of growing
 * windows began ({@link OverloadSignals}' growth base).
 */
export const EARLY_GROWTH_SHARE = 0.08;
/** How far back the detectors look, in ms. */
export const WINDOW_MS = 2000;
/** How long the loop must stay late before it is a stall, in ms. */
export const STALL_HOLD_MS = 1000;
/**
 * How busy the process may be while nothing flows, for {@link BUSY_HOLD_MS},
 * before it is a stall: the CPU time it used plus the time its timers
 * waited past due, as a share of the time. A control-frame flood the server
 * keeps up with leaves the loop prompt but burns the core (pongs: 60-98% of
 * a core on a quiet machine); on a loaded one the flooded process gets less
 * CPU (10-17% at load average 15) and waits for it instead (its timers
 * 200-800 ms late), while an idle process burns 0-4% (`deno run -A
 * bench/overload_facts.ts stall pong`). Machine load alone can keep an idle
 * process's timers waiting too: {@link OWN_CPU} tells them apart.
 */
export const BUSY_SHARE = 0.5;
/** How long the process must stay busy with nothing flowing, in ms. */
export const BUSY_HOLD_MS = 2000;
/**
 * Uncounted growth within the window, as a share of MAX_RSS_BYTES, under
 * which memory is calm (8 MiB at 400 MiB; {@link OverloadSignals.calmSince}).
 */
export const CALM_GROWTH_SHARE = 0.02;
/** How long a window must span to show the process calm, in ms. */
export const CALM_SPAN_MS = 1500;
/** Why the watch acts. */
export type SignalCause = "uncounted_memory" | "event_loop_stall";

/**
 * Keeps the recent samples and says when they show an incident.
 *
 * @example RSS that grows while nothing is accounted for
 * ```ts
 * import assert from "node:assert/strict";
 * import { OverloadSignals } from "./overload_signals.ts";
 * const MiB = 1024 * 1024;
 * const signals = new OverloadSignals({ maxRssBytes: 400 * MiB, stallMs: 300 });
 * const sample = (at: number, rss: number) => ({
 *   at, rssBytes: rss * MiB, usedBytes: 0, delayMs: 0, messagesIn: 0, bytesIn: 0,
 * });
 * assert.equal(signals.add(sample(0, 300)), undefined);
 * assert.equal(signals.add(sample(100, 310)), undefined);
 * assert.equal(signals.add(sample(200, 370)), "uncounted_memory");
 * ```
 */
export class OverloadSignals {
  #limits: SignalLimits;
  readonly #samples: Sample[] = [];
  /** The share of a core used over the window, as of the last sample. */
  #cpuShare: number | undefined;
  /** The current late stretch: the sample before it, and its delays. */
  #late: { before: Sample; delaySum: number; count: number } | undefined;
  #calmFrom = -Infinity;
  /** The sample before the first troubled one since the latest calm one. */
  #troubleFrom: number | undefined;
  /**
   * The first sample of the first of the current run of windows that each
   * grew by {@link CALM_GROWTH_SHARE} or more nobody accounts for: growth
   * spread over several windows is one growth (a split endless message at
   * load average 25 grew RSS 64 -> 79 MiB over samples 2-3.5 s apart, each
   * window under the line, and stopped: no incident in 45 s, issue #20).
   */
  #growthFrom: Sample | undefined;
  #lastAt = -Infinity;

  constructor(limits: SignalLimits) {
    this.#limits = limits;
  }

  /** Adds a sample; returns the cause when it completes an incident. */
  add(sample: Sample): SignalCause | undefined {
    const previous = this.#samples.at(-1);
    this.#samples.push(sample);
    // The window keeps the sample before this one even when it is older (a
    // stall): growth across the stall counts.
    while (
      this.#samples.length > 2 && this.#samples[1]!.at < sample.at - WINDOW_MS
    ) this.#samples.shift();
    const first = this.#samples[0]!;
    this.#cpuShare = sample.cpuMs !== undefined &&
        first.cpuMs !== undefined && sample.at > first.at
      ? (sample.cpuMs - first.cpuMs) / (sample.at - first.at)
      : undefined;
    this.#lastAt = sample.at;
    const cause: SignalCause | undefined = this.#memoryTripped(sample)
      ? "uncounted_memory"
      : this.#stalled(sample, previous) || this.#busy(sample)
      ? "event_loop_stall"
      : undefined;
    this.#trackGrowth(first, sample);
    // The trouble began after the last sample that showed none.
    if (cause || this.#troubled(sample)) {
      this.#troubleFrom ??= previous?.at ?? sample.at;
    } else if (sample.at - first.at >= CALM_SPAN_MS) {
      this.#calmFrom = first.at;
      this.#troubleFrom = undefined;
    }
    return cause;
  }

  /**
   * `performance.now()` of the last sample before the trouble (uncounted
   * growth of {@link CALM_GROWTH_SHARE} or more, or a late or busy loop of
   * the process's own doing while nothing flowed) since the latest calm
   * window, or of the last sample when there is none: the trouble began
   * after it (`overload_attribution.ts`).
   */
  get troubleSince(): number {
    return this.#troubleFrom ?? this.#lastAt;
  }

  /**
   * `performance.now()` when the latest calm window began (-Infinity before
   * any): a window of {@link CALM_SPAN_MS} or more with uncounted growth
   * under {@link CALM_GROWTH_SHARE}, and no late or busy loop of the
   * process's own doing while nothing flowed. A silent connection open
   * through one was there before the trouble began (`overload_attribution.ts`).
   * Kept across {@link reset}.
   */
  get calmSince(): number {
    return this.#calmFrom;
  }

  /**
   * The share of one core the process used over the current window (0-1
   * per core), or undefined before two samples with CPU times.
   */
  get cpuShare(): number | undefined {
    return this.#cpuShare;
  }

  /**
   * The kernel's count could not be read at an incident after all (`run`
   * granted for `ss`, but not on PATH or failing): from now on upgrades
   * count as flow, as where the count is off from the start
   * ({@link SignalLimits.upgradesFlow}). True when they flowed over the
   * current window: judged so, it was no stall (a reset-upgrade attack on
   * a busy machine recycled the listener, 1013 for every client, and a
   * recycle frees no leaked descriptor). False when they counted already.
   */
  countUpgrades(): boolean {
    if (this.#limits.upgradesFlow === true) return false;
    this.#limits = { ...this.#limits, upgradesFlow: true };
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    return first !== undefined && last !== undefined && first !== last &&
      this.#flowing(first, last);
  }

  /** Forgets every sample (after acting: the next incident starts afresh). */
  reset(): void {
    this.#samples.length = 0;
    this.#cpuShare = undefined;
    this.#late = undefined;
    this.#troubleFrom = undefined;
    this.#growthFrom = undefined;
  }

  /**
   * After the watch's own work (starting the RSS watchdog thread: its
   * isolate held the loop, used CPU and adds `ownBytes` to RSS): forgets
   * the samples like {@link reset}, but keeps the growth under way since
   * before it, less `ownBytes`. Forgetting it let an attack whose first
   * fragments came before the start go unseen (10 MiB of a split attack's
   * growth dropped at one start, issue #20).
   */
  restart(ownBytes: number): void {
    const growthFrom = this.#growthFrom;
    const troubleFrom = this.#troubleFrom;
    this.reset();
    if (!growthFrom) return;
    this.#growthFrom = {
      ...growthFrom,
      rssBytes: growthFrom.rssBytes + ownBytes,
    };
    this.#troubleFrom = troubleFrom;
  }

  /**
   * RSS grew within the window, or where early trips are on since the run
   * of growing windows began ({@link #growthFrom}), by more than the
   * connections account for, more than the payload moved meanwhile and
   * more than the connections opened and closed meanwhile cost
   * ({@link CONNECTION_BYTES} each): messages still arriving and the
   * garbage of finished echoes are not counted by the guard but are moved
   * bytes, while an endless fragmented message never completes, so moves
   * none.
   */
  #memoryTripped(sample: Sample): boolean {
    const max = this.#limits.maxRssBytes;
    const early = this.#limits.earlyTrip !== false;
    if (
      max === 0 || sample.rssBytes < max * (early ? EARLY_SHARE : NEAR_SHARE)
    ) {
      return false;
    }
    const near = sample.rssBytes >= max * NEAR_SHARE;
    const line = max * (near ? NEAR_GROWTH_SHARE : EARLY_GROWTH_SHARE);
    // Where the only action is ending the process, one window only.
    const growthFrom = early ? this.#growthFrom : undefined;
    return uncountedGrowth(this.#samples[0]!, sample) >= line ||
      (growthFrom !== undefined && uncountedGrowth(growthFrom, sample) >= line);
  }

  /**
   * Keeps {@link #growthFrom}: set at the first window (from `first` to
   * `sample`) that grew by {@link CALM_GROWTH_SHARE} or more nobody
   * accounts for, cleared by one spanning {@link CALM_SPAN_MS} that grew
   * less.
   */
  #trackGrowth(first: Sample, sample: Sample): void {
    const max = this.#limits.maxRssBytes;
    if (max === 0) return;
    if (uncountedGrowth(first, sample) >= max * CALM_GROWTH_SHARE) {
      this.#growthFrom ??= first;
    } else if (sample.at - first.at >= CALM_SPAN_MS) {
      this.#growthFrom = undefined;
    }
  }

  /**
   * Not calm, whatever the window's span ({@link calmSince}): uncounted
   * growth, or a late or busy loop of the process's own doing while
   * nothing flowed.
   */
  #troubled(sample: Sample): boolean {
    const samples = this.#samples;
    const first = samples[0]!;
    const { maxRssBytes, stallMs } = this.#limits;
    if (
      maxRssBytes > 0 &&
      uncountedGrowth(first, sample) >= maxRssBytes * CALM_GROWTH_SHARE
    ) return true;
    if (stallMs === 0 || this.#flowing(first, sample)) return false;
    if ((this.#cpuShare ?? 0) >= BUSY_SHARE) return true;
    for (let i = 1; i < samples.length; i++) {
      const late = samples[i]!.delayMs >= stallMs / 2;
      if (late && ownDoing(samples[i - 1]!, samples[i]!)) return true;
    }
    return false;
  }

  /** Work flowed between `before` and `after` (`overload_sample.ts`). */
  #flowing(before: Sample, after: Sample): boolean {
    return flowing(before, after, this.#limits.upgradesFlow === true);
  }

  /**
   * A stretch of samples each late by half the limit or more, lasting
   * {@link STALL_HOLD_MS}, late by the limit on average (an empty-frame
   * flood makes timers 280-580 ms late, not always over 300), with few
   * messages or requests processed meanwhile.
   */
  #stalled(sample: Sample, previous: Sample | undefined): boolean {
    const stallMs = this.#limits.stallMs;
    if (stallMs === 0 || sample.delayMs < stallMs / 2 || !previous) {
      this.#late = undefined;
      return false;
    }
    // The stretch began when the previous timer was due.
    this.#late ??= { before: previous, delaySum: 0, count: 0 };
    const late = this.#late;
    late.delaySum += sample.delayMs;
    late.count++;
    const heldMs = sample.at - late.before.at;
    if (heldMs < STALL_HOLD_MS || late.delaySum / late.count < stallMs) {
      return false;
    }
    return ownDoing(late.before, sample) && !this.#flowing(late.before, sample);
  }

  /**
   * The process was busy ({@link BUSY_SHARE}) over the last
   * {@link BUSY_HOLD_MS} or more with nothing flowing: its time goes to
   * frames the app never sees, whether the loop turns (a quiet machine: it
   * burns the CPU) or waits (a loaded one: it waits for the CPU).
   */
  #busy(sample: Sample): boolean {
    const first = this.#samples[0]!;
    const spanMs = sample.at - first.at;
    const cpuShare = this.#cpuShare;
    if (
      this.#limits.stallMs === 0 || cpuShare === undefined ||
      spanMs < BUSY_HOLD_MS
    ) return false;
    let waitedMs = 0;
    for (let i = 1; i < this.#samples.length; i++) {
      // A timer that waited while the process did not use its share was
      // kept waiting by the host or the machine, not by the process.
      const [before, after] = [this.#samples[i - 1]!, this.#samples[i]!];
      if (ownDoing(before, after)) waitedMs += after.delayMs;
    }
    return cpuShare + waitedMs / spanMs >= BUSY_SHARE &&
      ownDoing(first, sample) && !this.#flowing(first, sample);
  }
}
