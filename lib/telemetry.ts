/**
 * The service's metrics through the OpenTelemetry API, which Deno exports by
 * OTLP when `OTEL_DENO=true` (and always on Deno Deploy). Deno's own export
 * covers HTTP requests but not WebSockets, so these are recorded here.
 *
 * Nothing runs per message: the counters and gauges are observable
 * instruments whose callback reads the {@link Metrics} counters at export
 * time, and the duration histogram is recorded once per finished connection.
 * With OpenTelemetry off, the API hands out its no-op meter and the callback
 * never runs.
 *
 * @module
 */
import {
  type BatchObservableResult,
  type Meter,
  metrics as otelMetrics,
  type Observable,
} from "@opentelemetry/api";
import type { MemoryState, Metrics, RoomsState } from "./metrics.ts";
import { METRICS } from "./metric_catalogue.ts";

/** The instrumentation scope the instruments are created under. */
export const METER_NAME = "ws-echo";

/**
 * Bucket bounds of `ws_echo.connection.duration`, in seconds: a tutorial
 * round trip, an idle timeout (300 s) and a tab left open for hours apart.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.1,
  0.5,
  1,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
  14400,
];

/** One instrument: its OpenTelemetry name and its Prometheus counterpart. */
export interface InstrumentDescription {
  /** OpenTelemetry name, under the `ws_echo.` prefix. */
  name: string;
  kind: "counter" | "updowncounter" | "gauge" | "histogram";
  /** UCUM unit, as OpenTelemetry's conventions write it. */
  unit: string;
  /** Attributes each point carries. */
  attributes: readonly string[];
  description: string;
  /** The `/metrics` name with the same meaning. */
  prometheus: string;
}

/**
 * Every instrument: those of the metric catalogue ({@link METRICS}) that
 * have one, then the duration histogram, which `/metrics` does not have. A
 * test checks that each one is exported, and that the table in
 * docs/operations.md#health-and-metrics lists them.
 */
export const INSTRUMENTS: readonly InstrumentDescription[] = [
  ...METRICS.flatMap(({ name, help, label, otel }) =>
    otel
      ? [{
        name: otel.name,
        kind: otel.kind,
        unit: otel.unit,
        attributes: label ? [label] : [],
        description: help,
        prometheus: `ws_echo_${name}`,
      }]
      : []
  ),
  {
    name: "ws_echo.connection.duration",
    kind: "histogram",
    unit: "s",
    attributes: [],
    description: "How long finished WebSocket connections lasted",
    prometheus: "(none)",
  },
];

/** What {@link startTelemetry} reads. */
export interface TelemetrySources {
  metrics: Metrics;
  /** The memory guard's state; none = no memory gauges. */
  memory?: { state(): MemoryState };
  /** The rooms' state; none = no room gauges. */
  rooms?: { state(): RoomsState };
}

/** Recording in progress; `dispose()` stops it (for tests and shutdown). */
export interface Telemetry {
  dispose(): void;
}

/**
 * Creates the instruments of {@link INSTRUMENTS} on `meter` and records into
 * them: counters and gauges when the exporter collects, the duration once per
 * finished connection (through {@link Metrics.onClose}).
 *
 * @param sources The counters (and the memory guard) to read.
 * @param meter Where to record. @default the global OpenTelemetry meter
 * named {@link METER_NAME}: Deno's when OTEL_DENO=true, else a no-op
 * @example With OpenTelemetry off, nothing is recorded
 * ```ts
 * import { Metrics } from "./metrics.ts";
 * import { startTelemetry } from "./telemetry.ts";
 * const telemetry = startTelemetry({ metrics: new Metrics() });
 * telemetry.dispose();
 * ```
 */
export function startTelemetry(
  sources: TelemetrySources,
  meter: Meter = otelMetrics.getMeter(METER_NAME),
): Telemetry {
  const { metrics, memory, rooms } = sources;
  const rows = METRICS.filter((row) =>
    row.otel && (memory || !row.memory) && (rooms || !row.rooms)
  );
  const observables = new Map<string, Observable>();
  for (const { otel, help: description } of rows) {
    const { name, kind, unit } = otel!;
    const options = { unit, description };
    if (kind === "counter") {
      observables.set(name, meter.createObservableCounter(name, options));
    } else if (kind === "updowncounter") {
      observables.set(
        name,
        meter.createObservableUpDownCounter(name, options),
      );
    } else {
      observables.set(name, meter.createObservableGauge(name, options));
    }
  }
  const duration = INSTRUMENTS.find((it) => it.kind === "histogram")!;
  const histogram = meter.createHistogram(duration.name, {
    unit: duration.unit,
    description: duration.description,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const collect = (result: BatchObservableResult) => {
    const memoryState = memory?.state();
    const roomsState = rooms?.state();
    for (const row of rows) {
      const observable = observables.get(row.otel!.name)!;
      const value = row.read(metrics, memoryState!, roomsState!);
      if (value === undefined) continue;
      if (typeof value === "number") {
        result.observe(observable, value);
        continue;
      }
      for (const [key, count] of value) {
        result.observe(observable, count, { [row.label!]: key });
      }
    }
  };
  const all = [...observables.values()];
  meter.addBatchObservableCallback(collect, all);
  const onClose = (_code: number, durationMs: number) =>
    histogram.record(durationMs / 1000);
  metrics.onClose = onClose;
  return {
    dispose() {
      meter.removeBatchObservableCallback(collect, all);
      if (metrics.onClose === onClose) metrics.onClose = undefined;
    },
  };
}
