/**
 * Counters for `/metrics` (Prometheus text format), `/healthz` and
 * OpenTelemetry, with the one catalogue of metrics ({@link METRICS}) that
 * both `/metrics` and `telemetry.ts` are written from. Per-message updates
 * are plain field increments; labelled counters change per connection or
 * per refusal only.
 *
 * @module
 */

import {
  DEGRADED_INCIDENTS,
  DEGRADED_WINDOW_MS,
  RecentIncidents,
} from "./overload_pressure.ts";
import type { LimitReason, ShedCause } from "./limits.ts";
import type { RefusalReason } from "./refusals.ts";

export type { LimitReason, ShedCause };

/** The guard's state, for `/healthz`, `/metrics` and `/limits`. */
export interface MemoryState {
  /** Bytes the connections hold, as counted. */
  usedBytes: number;
  /** MEMORY_BUDGET_BYTES (this worker's part under `deno serve`); 0 = off. */
  budgetBytes: number;
  /** The process's resident set size at the last sample, in bytes. */
  rssBytes: number;
  /** MAX_RSS_BYTES; 0 = off. */
  maxRssBytes: number;
  /**
   * Under `deno serve --parallel`: this worker's share of the memory and
   * the mean share of all workers, in bytes, at the last sample.
   */
  worker?: { ownBytes: number; meanBytes: number; workers: number };
  /**
   * Why this worker sheds load now (closes connections, queues no more for
   * clients behind), or null when it does not.
   */
  shedding: ShedCause | null;
  /**
   * Why new upgrades are refused now, or null when they are admitted: set
   * whenever `shedding` is, and also (`rss`) on a `deno serve` worker that
   * only refuses while the process is over MAX_RSS_BYTES.
   */
  refusing: ShedCause | null;
  /** Connections closed by shedding since start, per cause. */
  shed: Record<ShedCause, number>;
}

/** A room bridge's state (`lib/rooms/`), for `/healthz` and `/metrics`. */
export interface BridgeState {
  /** Which bridge: `broadcast` (workers of one process) or `redis`. */
  kind: "broadcast" | "redis";
  /** False while Redis is unreachable: rooms then span this instance only. */
  connected: boolean;
  /** Messages and counts published since start. */
  published: number;
  /** Messages and counts received from other instances since start. */
  received: number;
  /** Messages not published because the link was down. */
  dropped: number;
  /**
   * Posts from other workers that never arrived (BroadcastChannel drops
   * what a lagging worker cannot queue); 0 for Redis.
   */
  lost: number;
}

/** The rooms' numbers (`lib/rooms/registry.ts`), for `/healthz` and `/metrics`. */
export interface RoomsState {
  /**
   * Rooms with a member (open or opening) on this instance: what MAX_ROOMS
   * caps. A room only watched through `/presence` is not counted.
   */
  rooms: number;
  /** Open members on this instance, all rooms together. */
  members: number;
  /** The link to other instances; null when rooms span this process only. */
  bridge: BridgeState | null;
}

/**
 * What the overload watch (`lib/start/overload_watch.ts`) found: memory
 * growing that no connection accounts for (endless fragments), the event
 * loop stalled while messages do not flow (control-frame floods), upgrades
 * whose socket never opened (reset by the client: a descriptor leaked),
 * closes given up that still hold their slots (Deno has no close timeout),
 * the listener down past its bound.
 */
export const INCIDENT_CAUSES = [
  "uncounted_memory",
  "event_loop_stall",
  "descriptor_leak",
  "unanswered_closes",
  "listener_down",
] as const;

/** One of {@link INCIDENT_CAUSES}. */
export type IncidentCause = (typeof INCIDENT_CAUSES)[number];

/**
 * What the overload watch did about an incident: `recycled` the listener
 * (every connection closed with 1013), only `reported` it (nothing closed:
 * a held loop the kernel's count shows no flood in, growth left to the
 * memory guard, a leak counted), `aborted` the attacking connections
 * (named by the RSS watchdog thread or the kernel's count, the rest
 * untouched: `incident_aborts.ts`), or decided the process must
 * `exit`.
 * Counted apart from the cause, so an operator alerting on incidents can
 * tell a recycle from a line in the log.
 */
export const INCIDENT_ACTIONS = [
  "recycled",
  "reported",
  "aborted",
  "exit",
] as const;

/** One of {@link INCIDENT_ACTIONS}. */
export type IncidentAction = (typeof INCIDENT_ACTIONS)[number];

/**
 * Told of every finished connection, with its close code and how long it
 * lasted; `telemetry.ts` records the duration histogram from it.
 */
export type CloseListener = (code: number, durationMs: number) => void;

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
  /**
   * The value now, or the counts per label value; undefined when the metric
   * does not apply (no series at all, rather than a misleading 0).
   */
  readonly read: (
    metrics: Metrics,
    memory: MemoryState,
    rooms: RoomsState,
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

/** The service's counters. One instance per app. */
export class Metrics {
  /** When the app was created, for uptime. */
  readonly startedAt: number = Date.now();
  /** Open WebSockets. */
  connectionsOpen = 0;
  /** Open `/sse` streams; `/healthz` counts them in `connections`. */
  streamsOpen = 0;
  /** `/sse` events written: flow for the overload watch (no metric row). */
  streamEventsOut = 0;
  connectionsTotal = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  readonly closesByCode: Map<number | string, number> = new Map();
  readonly refusals: Map<RefusalReason, number> = new Map();
  readonly breaches: Map<LimitReason, number> = new Map();
  /** Upgrades answered with the status the client asked for (`status=`), by status. */
  readonly statusesAsked: Map<number, number> = new Map();
  /**
   * HTTP requests received, upgrades included (counted on arrival). The
   * overload watch counts them as flow only where the kernel's count cannot
   * be read; elsewhere it counts {@link plainRequests}, since upgrades that
   * bring no message are what a split flood is made of.
   */
  httpRequests = 0;
  /**
   * Of {@link httpRequests}, the plain ones (not asking for a WebSocket
   * upgrade) the app answers, past the request rate and the Host check: the
   * overload watch's flow where the kernel's count is read
   * (`overload_sample.ts`).
   */
  plainRequests = 0;
  /** Closes the service started that the client never answered. */
  closeTimeouts = 0;
  /**
   * Connections whose close timed out (CLOSE_TIMEOUT_SECONDS) and that still
   * hold their slot: Deno lets go of the socket only when the client leaves
   * or the listener is recycled.
   */
  closesUnanswered = 0;
  /** Overload incidents, by cause; every cause from 0, so each series exists. */
  readonly incidents: Map<IncidentCause, number> = new Map(
    INCIDENT_CAUSES.map((cause) => [cause, 0]),
  );
  /**
   * The stall and memory incidents of the last minute: while they repeat,
   * `/healthz` says `degraded` and `ws_echo_degraded` is 1.
   */
  readonly recentIncidents: RecentIncidents = new RecentIncidents();
  /** Overload incidents, by what was done; every action from 0. */
  readonly incidentActions: Map<IncidentAction, number> = new Map(
    INCIDENT_ACTIONS.map((action) => [action, 0]),
  );
  /** Listener recycles (each one closes every connection). */
  recycles = 0;
  /** Connections closed with 1013 so the listener could be recycled. */
  recycleCloses = 0;
  /**
   * Connections the periodic kernel-count check closed with 1009
   * (`lib/start/kernel_count_check.ts`).
   */
  kernelCheckCloses = 0;
  /** Client addresses put on the suspect list. */
  suspectsListed = 0;
  /**
   * Upgrades counted as leaked (`upgrade_leaks.ts`): each holds a
   * descriptor until the process ends, so this is also how many they hold.
   */
  upgradesLeaked = 0;
  /** Open descriptors at the watch's last sample; undefined when unknown. */
  descriptorsOpen: number | undefined;
  /** The open-file limit; undefined when unknown (no `--allow-all`). */
  descriptorLimit: number | undefined;
  /** Called once per finished connection; none by default. */
  onClose: CloseListener | undefined;

  /** Seconds since the app was created. */
  uptimeSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  /** Counts an upgrade the service refused. */
  refused(reason: RefusalReason): void {
    increment(this.refusals, reason);
  }

  /**
   * Counts an upgrade answered with the status its client asked for
   * (`status=`): kept apart from {@link refused}, as nothing was wrong.
   */
  statusAsked(status: number): void {
    increment(this.statusesAsked, status);
  }

  /** Counts an overload incident (and notes it for {@link recentIncidents}). */
  incident(cause: IncidentCause): void {
    increment(this.incidents, cause);
    this.recentIncidents.record(cause);
  }

  /** Counts what was done about an overload incident, once it is told. */
  incidentActed(action: IncidentAction): void {
    increment(this.incidentActions, action);
  }

  /** Counts a connection closed because it broke a limit. */
  breached(reason: LimitReason): void {
    increment(this.breaches, reason);
  }

  /**
   * Counts a finished connection by its close code. Codes 3000-4999 are the
   * client's to choose, so each range is one series (`3000-3999`,
   * `4000-4999`): a client could otherwise create 2,000 series.
   *
   * @param code The close code the service recorded.
   * @param durationMs How long the connection lasted, for {@link onClose};
   * a caller that does not know it passes nothing and no duration is told.
   */
  closed(code: number, durationMs?: number): void {
    increment(
      this.closesByCode,
      code < 3000 ? code : code < 4000 ? "3000-3999" : "4000-4999",
    );
    if (durationMs !== undefined) this.onClose?.(code, durationMs);
  }

  /**
   * The counters of {@link METRICS} in Prometheus text exposition format
   * 0.0.4.
   *
   * @param memory The memory guard's state, reported as gauges.
   * @param rooms The rooms' state, reported as gauges.
   */
  toPrometheus(memory?: MemoryState, rooms?: RoomsState): string {
    const lines: string[] = [];
    for (const row of METRICS) {
      if (row.memory && !memory) continue;
      if (row.rooms && !rooms) continue;
      const value = row.read(this, memory!, rooms!);
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
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
