/**
 * The one catalogue of metrics ({@link METRICS}): each row is one
 * `/metrics` series and, where it has one, its OpenTelemetry instrument
 * (`telemetry.ts`), read from the counters (`metrics.ts`) and the memory
 * guard's and rooms' states. `/metrics` is written from it
 * ({@link prometheusText}).
 *
 * @module
 */
import { DEGRADED_INCIDENTS, DEGRADED_WINDOW_MS } from "./overload_pressure.ts";
import type { MemoryState, Metrics, RoomsState } from "./metrics.ts";

/**
 * The listener's failure counters (`ListenerState` in `services.ts`, kept by
 * `start/listener.ts`), for `/metrics`.
 */
export interface ListenerCounts {
  /** Accepts that failed for want of descriptors. */
  readonly acceptFailures: number;
  /** Attempts to listen again that failed (port taken, no descriptor). */
  readonly listenFailures: number;
}

/** One metric: its `/metrics` series and, where it has one, its instrument. */
export interface MetricRow {
  /** The `/metrics` name after the `ws_echo_` prefix. */
  readonly name: string;
  readonly type: "counter" | "gauge";
  /** The `# HELP` text, and the OpenTelemetry description. */
  readonly help: string;
  /** The label of a labelled counter: one series per value. */
  readonly label?: "code" | "reason" | "status" | "cause" | "action";
  /** The OpenTelemetry instrument; none = `/metrics` only. */
  readonly otel?: {
    /** Under the `ws_echo.` prefix. */
    readonly name: string;
    readonly kind: "counter" | "updowncounter" | "gauge";
    /** UCUM unit, as OpenTelemetry's conventions write it. */
    readonly unit: string;
  };
  /** True for the memory guard's gauges, reported only with its state. */
  readonly memory?: boolean;
  /** True for the rooms' gauges, reported only with their state. */
  readonly rooms?: boolean;
  /** True for the listener's counters, reported only with its state. */
  readonly listener?: boolean;
  /**
   * The value now, or the counts per label value; undefined when the metric
   * does not apply (no series at all, rather than a misleading 0).
   */
  readonly read: (
    metrics: Metrics,
    memory: MemoryState,
    rooms: RoomsState,
    listener?: ListenerCounts,
  ) => number | ReadonlyMap<string | number, number> | undefined;
}

/** Every metric, in `/metrics` order. */
export const METRICS: readonly MetricRow[] = [
  {
    name: "connections_open",
    type: "gauge",
    help: "Open WebSocket connections",
    otel: {
      name: "ws_echo.connections.open",
      kind: "updowncounter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.connectionsOpen,
  },
  {
    name: "sse_streams_open",
    type: "gauge",
    help: "Open event streams (/sse and room presence)",
    read: (metrics) => metrics.streamsOpen,
  },
  {
    name: "connections_total",
    type: "counter",
    help: "WebSocket connections accepted",
    otel: {
      name: "ws_echo.connections",
      kind: "counter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.connectionsTotal,
  },
  {
    name: "messages_received_total",
    type: "counter",
    help: "Messages received",
    otel: {
      name: "ws_echo.messages.received",
      kind: "counter",
      unit: "{message}",
    },
    read: (metrics) => metrics.messagesIn,
  },
  {
    name: "bytes_received_total",
    type: "counter",
    help: "Payload bytes received",
    otel: { name: "ws_echo.bytes.received", kind: "counter", unit: "By" },
    read: (metrics) => metrics.bytesIn,
  },
  {
    name: "messages_sent_total",
    type: "counter",
    help: "Messages sent",
    otel: {
      name: "ws_echo.messages.sent",
      kind: "counter",
      unit: "{message}",
    },
    read: (metrics) => metrics.messagesOut,
  },
  {
    name: "bytes_sent_total",
    type: "counter",
    help: "Payload bytes sent",
    otel: { name: "ws_echo.bytes.sent", kind: "counter", unit: "By" },
    read: (metrics) => metrics.bytesOut,
  },
  {
    name: "close_timeouts_total",
    type: "counter",
    help: "Closes the service started that the client never answered",
    otel: {
      name: "ws_echo.close_timeouts",
      kind: "counter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.closeTimeouts,
  },
  {
    name: "listener_recycles_total",
    type: "counter",
    help:
      "Listener recycles (every connection closed, the server listened again)",
    otel: {
      name: "ws_echo.overload.recycles",
      kind: "counter",
      unit: "{recycle}",
    },
    read: (metrics) => metrics.recycles,
  },
  {
    name: "listener_accept_failures_total",
    type: "counter",
    help:
      "Times accepting failed for want of descriptors (EMFILE, ENFILE): the listener closed and listens again",
    listener: true,
    read: (_, __, ___, listener) => listener?.acceptFailures,
  },
  {
    name: "listener_listen_failures_total",
    type: "counter",
    help:
      "Times listening again on the port failed (taken by another socket, or no descriptor free); each is in the log",
    listener: true,
    read: (_, __, ___, listener) => listener?.listenFailures,
  },
  {
    name: "recycle_closes_total",
    type: "counter",
    help: "Connections closed with 1013 by a listener recycle",
    otel: {
      name: "ws_echo.overload.recycle_closes",
      kind: "counter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.recycleCloses,
  },
  {
    name: "kernel_check_closes_total",
    type: "counter",
    help:
      "Connections closed with 1009 by the periodic kernel-count check: a message past MAX_MESSAGE_BYTES still arriving",
    otel: {
      name: "ws_echo.overload.kernel_check_closes",
      kind: "counter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.kernelCheckCloses,
  },
  {
    name: "suspects_listed_total",
    type: "counter",
    help:
      "Client addresses refused for being connected and silent at repeated incidents",
    otel: {
      name: "ws_echo.overload.suspects_listed",
      kind: "counter",
      unit: "{address}",
    },
    read: (metrics) => metrics.suspectsListed,
  },
  {
    name: "uptime_seconds",
    type: "gauge",
    help: "Seconds since start",
    read: (metrics) => Math.floor(metrics.uptimeSeconds()),
  },
  {
    name: "memory_used_bytes",
    type: "gauge",
    help: "Bytes the connections hold (unread, delayed, in flight)",
    otel: { name: "ws_echo.memory.used", kind: "gauge", unit: "By" },
    memory: true,
    read: (_, memory) => memory.usedBytes,
  },
  {
    name: "memory_budget_bytes",
    type: "gauge",
    help: "MEMORY_BUDGET_BYTES, this worker's part under deno serve (0 = off)",
    memory: true,
    read: (_, memory) => memory.budgetBytes,
  },
  {
    name: "resident_memory_bytes",
    type: "gauge",
    help: "Process RSS at the last sample",
    memory: true,
    read: (_, memory) => memory.rssBytes,
  },
  {
    name: "max_rss_bytes",
    type: "gauge",
    help: "MAX_RSS_BYTES (0 = off)",
    memory: true,
    read: (_, memory) => memory.maxRssBytes,
  },
  {
    name: "shedding",
    type: "gauge",
    help: "1 while this worker sheds load (closes connections to free memory)",
    otel: { name: "ws_echo.shedding", kind: "gauge", unit: "1" },
    memory: true,
    read: (_, memory) => memory.shedding ? 1 : 0,
  },
  {
    name: "degraded",
    type: "gauge",
    help:
      `1 while stall or memory incidents repeat (${DEGRADED_INCIDENTS} within ${
        DEGRADED_WINDOW_MS / 1000
      } s): /healthz says degraded unless a graver status applies`,
    otel: { name: "ws_echo.degraded", kind: "gauge", unit: "1" },
    read: (metrics) => metrics.recentIncidents.degraded() ? 1 : 0,
  },
  {
    name: "rooms_open",
    type: "gauge",
    help: "Rooms with members here",
    otel: { name: "ws_echo.rooms.open", kind: "gauge", unit: "{room}" },
    rooms: true,
    read: (_, __, rooms) => rooms.rooms,
  },
  {
    name: "room_members",
    type: "gauge",
    help: "Open room members on this instance",
    otel: { name: "ws_echo.room.members", kind: "gauge", unit: "{member}" },
    rooms: true,
    read: (_, __, rooms) => rooms.members,
  },
  {
    name: "room_bridge_connected",
    type: "gauge",
    help:
      "1 while rooms reach other instances (Redis or workers), 0 while not; absent without a bridge",
    otel: { name: "ws_echo.room.bridge.connected", kind: "gauge", unit: "1" },
    rooms: true,
    read: (_, __, rooms) =>
      rooms.bridge ? (rooms.bridge.connected ? 1 : 0) : undefined,
  },
  {
    name: "closes_total",
    type: "counter",
    help: "Finished connections by close code",
    label: "code",
    otel: { name: "ws_echo.closes", kind: "counter", unit: "{connection}" },
    read: (metrics) => metrics.closesByCode,
  },
  {
    name: "refusals_total",
    type: "counter",
    help: "Upgrades refused, by reason",
    label: "reason",
    otel: { name: "ws_echo.refusals", kind: "counter", unit: "{upgrade}" },
    read: (metrics) => metrics.refusals,
  },
  {
    name: "statuses_asked_total",
    type: "counter",
    help:
      "Upgrades answered with the status the client asked for (status=), by status",
    label: "status",
    read: (metrics) => metrics.statusesAsked,
  },
  {
    name: "overload_incidents_total",
    type: "counter",
    help: "Overload incidents the app cannot count, by cause",
    label: "cause",
    otel: {
      name: "ws_echo.overload.incidents",
      kind: "counter",
      unit: "{incident}",
    },
    read: (metrics) => metrics.incidents,
  },
  {
    name: "overload_actions_total",
    type: "counter",
    help:
      "Overload incidents by what was done: recycled (every connection closed with 1013), reported (nothing closed), aborted (the connections the RSS watchdog named), exit",
    label: "action",
    otel: {
      name: "ws_echo.overload.actions",
      kind: "counter",
      unit: "{incident}",
    },
    read: (metrics) => metrics.incidentActions,
  },
  {
    name: "upgrades_leaked_total",
    type: "counter",
    help:
      "Upgrades reset by the client whose descriptor Deno keeps until the process ends",
    otel: {
      name: "ws_echo.overload.upgrades_leaked",
      kind: "counter",
      unit: "{upgrade}",
    },
    read: (metrics) => metrics.upgradesLeaked,
  },
  {
    name: "descriptors_open",
    type: "gauge",
    help:
      "Open descriptors of the process at the last sample (with --allow-all only)",
    otel: { name: "ws_echo.descriptors.open", kind: "gauge", unit: "{file}" },
    read: (metrics) => metrics.descriptorsOpen,
  },
  {
    name: "descriptors_limit",
    type: "gauge",
    help: "The open-file limit (Linux: /proc with --allow-all, else prlimit)",
    otel: { name: "ws_echo.descriptors.limit", kind: "gauge", unit: "{file}" },
    read: (metrics) => metrics.descriptorLimit,
  },
  {
    name: "limit_breaches_total",
    type: "counter",
    help: "Connections closed by a limit, by reason",
    label: "reason",
    otel: {
      name: "ws_echo.limit_breaches",
      kind: "counter",
      unit: "{connection}",
    },
    read: (metrics) => metrics.breaches,
  },
];

/**
 * The counters of {@link METRICS} in Prometheus text exposition format
 * 0.0.4, for `/metrics`.
 *
 * @param metrics The service's counters.
 * @param states.memory The memory guard's state, reported as gauges; its
 * rows are left out without it.
 * @param states.rooms The rooms' state, reported as gauges; its rows are
 * left out without it.
 * @param states.listener The listener's failure counters; their rows are
 * left out without them.
 * @example Counters as series
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "./metrics.ts";
 * import { prometheusText } from "./metric_catalogue.ts";
 * const metrics = new Metrics();
 * metrics.connectionsTotal = 3;
 * assert.match(prometheusText(metrics), /^ws_echo_connections_total 3$/m);
 * ```
 */
export function prometheusText(
  metrics: Metrics,
  states: {
    memory?: MemoryState;
    rooms?: RoomsState;
    listener?: ListenerCounts;
  } = {},
): string {
  const { memory, rooms, listener } = states;
  const lines: string[] = [];
  for (const row of METRICS) {
    if (row.memory && !memory) continue;
    if (row.rooms && !rooms) continue;
    if (row.listener && !listener) continue;
    const value = row.read(metrics, memory!, rooms!, listener);
    if (value === undefined) continue;
    const name = `ws_echo_${row.name}`;
    lines.push(`# HELP ${name} ${row.help}`, `# TYPE ${name} ${row.type}`);
    if (typeof value === "number") {
      lines.push(`${name} ${value}`);
      continue;
    }
    for (const [key, count] of value) {
      lines.push(`${name}{${row.label}="${key}"} ${count}`);
    }
  }
  return lines.join("\n") + "\n";
}
