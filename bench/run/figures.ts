/**
 * The table `deno task bench` prints: each figure's label, unit, which way
 * is better and the service / reference ratio it must meet, the medians
 * (with min-max) of what each target measured, and the ratio: the median
 * of the per-pair ratios (with min-max), each pair a reference and a
 * service measurement taken back to back ({@link pairRatios}).
 *
 * @module
 */
import type { Target } from "./targets.ts";

/**
 * Every measurement of each figure, per target, in pair order: the
 * reference's `i`-th value and the service's `i`-th were taken back to back
 * (one pair), so `service[i] / reference[i]` is that pair's ratio.
 */
export type Samples = Record<string, Record<Target, number[]>>;

/** One figure of the table. */
export interface Figure {
  key: string;
  label: string;
  unit: string;
  better: "higher" | "lower" | "info";
  /** The service / reference ratio to meet. */
  target?: number;
}

/** The figures in table order, for a run of `handshakes` and these idle counts. */
export function figures(
  plan: { handshakes: number; handshakeWarmUp: number; coldStarts: number },
  idleCounts: number[],
): Figure[] {
  return [
    {
      key: "small.messagesPerSecond",
      label: "Small messages: 32 B text, 50 conns × 16 in flight",
      unit: "msg/s",
      better: "higher",
      target: 0.95,
    },
    {
      key: "small.serverCpuMicros",
      label: "Server CPU per small message (its CPU over the run / the rate)",
      unit: "µs",
      better: "info",
    },
    {
      key: "latency.p50",
      label: "Latency p50: 1 conn, 1 in flight, 32 B",
      unit: "µs",
      better: "lower",
    },
    {
      key: "latency.p99",
      label: "Latency p99",
      unit: "µs",
      better: "lower",
      target: 1.1,
    },
    { key: "latency.max", label: "Latency max", unit: "µs", better: "lower" },
    {
      key: "large.MiBPerSecond",
      label: "Large messages: 64 KiB binary, 8 conns × 4 in flight",
      unit: "MiB/s",
      better: "higher",
    },
    {
      key: "large.peakRssMiB",
      label: "Peak server RSS during large messages",
      unit: "MiB",
      better: "lower",
      target: 1.25,
    },
    {
      key: "handshakes.perSecond",
      label:
        `Handshakes: ${plan.handshakes} connect-and-close, 100 concurrent (after ${plan.handshakeWarmUp} unmeasured)`,
      unit: "/s",
      better: "higher",
      target: 0.9,
    },
    {
      key: "handshakes.p99Ms",
      label: "Handshake p99: connect to 101",
      unit: "ms",
      better: "lower",
      target: 1.2,
    },
    {
      key: "handshakes.serverCpuMicros",
      label: "Server CPU per handshake",
      unit: "µs",
      better: "info",
    },
    ...idleCounts.flatMap((count, index) => [{
      key: `idleKiB.${count}`,
      label: `Server RSS per idle connection added, ${
        (index === 0 ? 100 : idleCounts[index - 1]!).toLocaleString("en")
      } -> ${count.toLocaleString("en")} open`,
      unit: "KiB",
      better: "lower" as const,
      target: 1.1,
    }, {
      key: `idleTotalMiB.${count}`,
      label: `Server RSS with ${count.toLocaleString("en")} idle connections`,
      unit: "MiB",
      better: "info" as const,
    }]),
    {
      key: "coldStartMs",
      label:
        `Cold start: spawn to first echo (${plan.coldStarts} starts of each, side by side)`,
      unit: "ms",
      better: "lower",
      target: 1.3,
    },
    {
      key: "coldStartCpuMs",
      label: "Cold start: server CPU to the first echo (all threads)",
      unit: "ms",
      better: "info",
    },
    {
      key: "startRssMiB",
      label: "Server RSS at start (after the first echo)",
      unit: "MiB",
      better: "lower",
      target: 1.3,
    },
    {
      key: "settledRssMiB",
      label:
        "Server RSS settled (2 s after the first echo: threads started on a timer)",
      unit: "MiB",
      better: "lower",
      target: 1.3,
    },
    {
      key: "idleCpuMsPerSecond",
      label: "Server CPU with no connection (timers and threads of its own)",
      unit: "ms/s",
      better: "info",
    },
    {
      key: "cpu.server",
      label: "Server CPU during small messages",
      unit: "cores",
      better: "info",
    },
    {
      key: "cpu.loadGenerator",
      label: "Load generator CPU during small messages",
      unit: "cores",
      better: "info",
    },
  ];
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A figure as the table shows it: 3 significant digits or the whole number. */
export function format(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** `median (min–max)` of `values`, formatted. */
export function cell(values: number[]): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${
    format(Math.max(...values))
  })`;
}

/**
 * Each pair's service / reference ratio, `service[i] / reference[i]`, the
 * pairs whose ratio is not a finite number (a reference of 0, as the bare
 * echo's CPU with no connection) left out. Why pairs: this VM's speed
 * drifts over minutes (the reference's own small-message rate read
 * 96,733-129,755 within one run, BENCHMARKS.md twenty-fifth round), and a
 * ratio of two medians taken from rounds minutes apart carries that drift;
 * a pair measured back to back shares the machine's state of the moment.
 *
 * @throws {RangeError} When the two lists differ in length: the pairs are
 * unknown.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pairRatios } from "./figures.ts";
 * assert.deepEqual(pairRatios([100, 200, 0], [95, 210, 3]), [0.95, 1.05]);
 * ```
 */
export function pairRatios(reference: number[], service: number[]): number[] {
  if (reference.length !== service.length) {
    throw new RangeError(
      `Cannot pair ${reference.length} reference values with ${service.length} service values: expected as many of each`,
    );
  }
  return service.map((value, i) => value / reference[i]!).filter(
    Number.isFinite,
  );
}

/**
 * Which target goes first in pair `index` (0-based) of a scenario: the
 * reference in even pairs, the service in odd ones, so neither always runs
 * first, on a machine that has just warmed up or is about to slow down.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pairOrder } from "./figures.ts";
 * assert.deepEqual(pairOrder(0), ["reference", "service"]);
 * assert.deepEqual(pairOrder(1), ["service", "reference"]);
 * ```
 */
export function pairOrder(index: number): Target[] {
  return index % 2 === 0 ? ["reference", "service"] : ["service", "reference"];
}

/** One row of the table: the medians, the ratio, whether its target is met. */
export interface Row extends Figure {
  /** The median of the reference's values. */
  reference: number;
  /** The median of the service's values. */
  service: number;
  /** The median of the per-pair ratios ({@link pairRatios}); NaN for none. */
  ratio: number;
  /** The lowest and highest per-pair ratio. */
  ratioMin: number;
  ratioMax: number;
  /** How many pairs gave a ratio. */
  pairs: number;
  met: string;
  line: string;
}

/**
 * The rows of the figures that were measured; each ratio is the median of
 * the per-pair ratios, and `met` compares it with the figure's target.
 */
export function compare(list: Figure[], samples: Samples): Row[] {
  return list.filter((figure) => samples[figure.key]).map((figure) => {
    const { reference, service } = samples[figure.key]!;
    const ratios = pairRatios(reference, service);
    const ratio = median(ratios);
    const met = figure.target === undefined || ratios.length === 0
      ? ""
      : (figure.better === "higher"
          ? ratio >= figure.target
          : ratio <= figure.target)
      ? "met"
      : "**missed**";
    const target = figure.target === undefined
      ? "–"
      : `${figure.better === "higher" ? "≥" : "≤"} ${figure.target}`;
    const ratioMin = Math.min(...ratios);
    const ratioMax = Math.max(...ratios);
    return {
      ...figure,
      reference: median(reference),
      service: median(service),
      ratio,
      ratioMin,
      ratioMax,
      pairs: ratios.length,
      met,
      // A reference at 0 (its idle CPU) has no ratio.
      line: `| ${figure.label} | ${figure.unit} | ${cell(reference)} | ${
        cell(service)
      } | ${
        ratios.length === 0
          ? "–"
          : `${ratio.toFixed(2)} (${ratioMin.toFixed(2)}–${
            ratioMax.toFixed(2)
          }, ${ratios.length})`
      } | ${target} | ${met} |`,
    };
  });
}
