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
  type Attributes,
  type BatchObservableResult,
  type Meter,
  metrics as otelMetrics,
  type Observable,
} from "@opentelemetry/api";
import type { MemoryState, Metrics, RoomsState } from "./metrics.ts";

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
 * Every instrument, in the README's order. A test checks that each one is
 * exported, and that the README table lists them.
 */
export const INSTRUMENTS: readonly InstrumentDescription[] = [
  {
    name: "ws_echo.connections.open",
    kind: "updowncounter",
    unit: "{connection}",
    attributes: [],
    description: "Open WebSocket connections",
    prometheus: "ws_echo_connections_open",
  },
  {
    name: "ws_echo.connections",
    kind: "counter",
    unit: "{connection}",
    attributes: [],
    description: "WebSocket connections accepted",
    prometheus: "ws_echo_connections_total",
  },
  {
    name: "ws_echo.messages.received",
    kind: "counter",
    unit: "{message}",
    attributes: [],
    description: "Messages received",
    prometheus: "ws_echo_messages_received_total",
  },
  {
    name: "ws_echo.messages.sent",
    kind: "counter",
    unit: "{message}",
    attributes: [],
    description: "Messages sent",
    prometheus: "ws_echo_messages_sent_total",
  },
  {
    name: "ws_echo.bytes.received",
    kind: "counter",
    unit: "By",
    attributes: [],
    description: "Payload bytes received",
    prometheus: "ws_echo_bytes_received_total",
  },
  {
    name: "ws_echo.bytes.sent",
    kind: "counter",
    unit: "By",
    attributes: [],
    description: "Payload bytes sent",
    prometheus: "ws_echo_bytes_sent_total",
  },
  {
    name: "ws_echo.closes",
    kind: "counter",
    unit: "{connection}",
    attributes: ["code"],
    description: "Finished connections by close code",
    prometheus: "ws_echo_closes_total",
  },
  {
    name: "ws_echo.refusals",
    kind: "counter",
    unit: "{upgrade}",
    attributes: ["reason"],
    description: "Upgrades refused, by reason",
    prometheus: "ws_echo_refusals_total",
  },
  {
    name: "ws_echo.limit_breaches",
    kind: "counter",
    unit: "{connection}",
    attributes: ["reason"],
    description: "Connections closed by a limit, by reason",
    prometheus: "ws_echo_limit_breaches_total",
  },
  {
    name: "ws_echo.close_timeouts",
    kind: "counter",
    unit: "{connection}",
    attributes: [],
    description: "Closes the service started that the client never answered",
    prometheus: "ws_echo_close_timeouts_total",
  },
  {
    name: "ws_echo.overload.incidents",
    kind: "counter",
    unit: "{incident}",
    attributes: ["cause"],
    description: "Overload incidents the app cannot count, by cause",
    prometheus: "ws_echo_overload_incidents_total",
  },
  {
    name: "ws_echo.overload.recycles",
    kind: "counter",
    unit: "{recycle}",
    attributes: [],
    description:
      "Listener recycles (every connection closed, the server listened again)",
    prometheus: "ws_echo_listener_recycles_total",
  },
  {
    name: "ws_echo.overload.recycle_closes",
    kind: "counter",
    unit: "{connection}",
    attributes: [],
    description: "Connections closed with 1013 by a listener recycle",
    prometheus: "ws_echo_recycle_closes_total",
  },
  {
    name: "ws_echo.overload.suspects_listed",
    kind: "counter",
    unit: "{address}",
    attributes: [],
    description:
      "Client addresses refused for being connected and silent at repeated incidents",
    prometheus: "ws_echo_suspects_listed_total",
  },
  {
    name: "ws_echo.connection.duration",
    kind: "histogram",
    unit: "s",
    attributes: [],
    description: "How long finished WebSocket connections lasted",
    prometheus: "(none)",
  },
  {
    name: "ws_echo.memory.used",
    kind: "gauge",
    unit: "By",
    attributes: [],
    description: "Bytes the connections hold (unread, delayed, in flight)",
    prometheus: "ws_echo_memory_used_bytes",
  },
  {
    name: "ws_echo.shedding",
    kind: "gauge",
    unit: "1",
    attributes: [],
    description: "1 while upgrades are refused to shed load",
    prometheus: "ws_echo_shedding",
  },
  {
    name: "ws_echo.rooms.open",
    kind: "gauge",
    unit: "{room}",
    attributes: [],
    description: "Rooms with members here",
    prometheus: "ws_echo_rooms_open",
  },
  {
    name: "ws_echo.room.members",
    kind: "gauge",
    unit: "{member}",
    attributes: [],
    description: "Open room members on this instance",
    prometheus: "ws_echo_room_members",
  },
  {
    name: "ws_echo.room.bridge.connected",
    kind: "gauge",
    unit: "1",
    attributes: [],
    description:
      "1 while rooms reach other instances (Redis or workers); 0 when down or none",
    prometheus: "ws_echo_room_bridge_connected",
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
  const observables = new Map<string, Observable>();
  for (const { name, kind, unit, description } of INSTRUMENTS) {
    const options = { unit, description };
    if (kind === "counter") {
      observables.set(name, meter.createObservableCounter(name, options));
    } else if (kind === "updowncounter") {
      observables.set(
        name,
        meter.createObservableUpDownCounter(name, options),
      );
    } else if (kind === "gauge" && (name.includes(".room") ? rooms : memory)) {
      observables.set(name, meter.createObservableGauge(name, options));
    }
  }
  const duration = INSTRUMENTS.find((it) => it.kind === "histogram")!;
  const histogram = meter.createHistogram(duration.name, {
    unit: duration.unit,
    description: duration.description,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const observe = (
    result: BatchObservableResult,
    name: string,
    value: number,
    attributes?: Attributes,
  ) => result.observe(observables.get(name)!, value, attributes);
  const labelled = (
    result: BatchObservableResult,
    name: string,
    label: string,
    counts: Map<string | number, number>,
  ) => {
    for (const [key, value] of counts) {
      observe(result, name, value, { [label]: key });
    }
  };
  const collect = (result: BatchObservableResult) => {
    observe(result, "ws_echo.connections.open", metrics.connectionsOpen);
    observe(result, "ws_echo.connections", metrics.connectionsTotal);
    observe(result, "ws_echo.messages.received", metrics.messagesIn);
    observe(result, "ws_echo.messages.sent", metrics.messagesOut);
    observe(result, "ws_echo.bytes.received", metrics.bytesIn);
    observe(result, "ws_echo.bytes.sent", metrics.bytesOut);
    labelled(result, "ws_echo.closes", "code", metrics.closesByCode);
    labelled(result, "ws_echo.refusals", "reason", metrics.refusals);
    labelled(result, "ws_echo.limit_breaches", "reason", metrics.breaches);
    labelled(result, "ws_echo.overload.incidents", "cause", metrics.incidents);
    observe(result, "ws_echo.overload.recycles", metrics.recycles);
    observe(result, "ws_echo.overload.recycle_closes", metrics.recycleCloses);
    observe(result, "ws_echo.overload.suspects_listed", metrics.suspectsListed);
    observe(result, "ws_echo.close_timeouts", metrics.closeTimeouts);
    if (memory) {
      const state = memory.state();
      observe(result, "ws_echo.memory.used", state.usedBytes);
      observe(result, "ws_echo.shedding", state.shedding ? 1 : 0);
    }
    if (rooms) {
      const state = rooms.state();
      observe(result, "ws_echo.rooms.open", state.rooms);
      observe(result, "ws_echo.room.members", state.members);
      observe(
        result,
        "ws_echo.room.bridge.connected",
        state.bridge?.connected ? 1 : 0,
      );
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
