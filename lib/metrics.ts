/**
 * Counters for `/metrics` (Prometheus text format) and `/healthz`. Per-message
 * updates are plain field increments; labelled counters change per connection
 * or per refusal only.
 *
 * @module
 */

import type { RefusalReason } from "./refusals.ts";

/** Which guard is shedding. */
export type ShedCause = "memory_budget" | "rss";

/** The guard's state, for `/healthz`, `/metrics` and `/limits`. */
export interface MemoryState {
  /** Bytes the connections hold, as counted. */
  usedBytes: number;
  /** MEMORY_BUDGET_BYTES; 0 = off. */
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
  /** Why new upgrades are refused now, or null when they are admitted. */
  shedding: ShedCause | null;
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
  /** Rooms with a member or a watcher on this instance. */
  rooms: number;
  /** Open members on this instance, all rooms together. */
  members: number;
  /** The link to other instances; null when rooms span this process only. */
  bridge: BridgeState | null;
}

/** Why the service closed a connection: a limit, or shedding load. */
export type LimitReason =
  | "message_size"
  | "message_rate"
  | "ip_message_rate"
  | "byte_rate"
  | "slow_reader"
  | "idle"
  | "memory_budget"
  | "rss";

/**
 * What the overload watch (`lib/start/overload_watch.ts`) found: memory
 * growing that no connection accounts for (endless fragments), the event
 * loop stalled while messages do not flow (control-frame floods), upgrades
 * whose socket never opened (reset by the client: a descriptor leaked), the
 * listener down past its bound.
 */
export const INCIDENT_CAUSES = [
  "uncounted_memory",
  "event_loop_stall",
  "descriptor_leak",
  "listener_down",
] as const;

/** One of {@link INCIDENT_CAUSES}. */
export type IncidentCause = (typeof INCIDENT_CAUSES)[number];

/**
 * Told of every finished connection, with its close code and how long it
 * lasted; `telemetry.ts` records the duration histogram from it.
 */
export type CloseListener = (code: number, durationMs: number) => void;

/** The service's counters. One instance per app. */
export class Metrics {
  /** When the app was created, for uptime. */
  readonly startedAt: number = Date.now();
  /** Open WebSockets. */
  connectionsOpen = 0;
  /** Open `/sse` streams; `/healthz` counts them in `connections`. */
  streamsOpen = 0;
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
  /** HTTP requests answered, upgrades included, for the overload watch's flow. */
  httpRequests = 0;
  /** Closes the service started that the client never answered. */
  closeTimeouts = 0;
  /** Overload incidents, by cause; every cause from 0, so each series exists. */
  readonly incidents: Map<IncidentCause, number> = new Map(
    INCIDENT_CAUSES.map((cause) => [cause, 0]),
  );
  /** Listener recycles (each one closes every connection). */
  recycles = 0;
  /** Connections closed with 1013 so the listener could be recycled. */
  recycleCloses = 0;
  /** Client addresses put on the suspect list. */
  suspectsListed = 0;
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

  /** Counts an overload incident. */
  incident(cause: IncidentCause): void {
    increment(this.incidents, cause);
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
   * The counters in Prometheus text exposition format 0.0.4.
   *
   * @param memory The memory guard's state, reported as gauges.
   * @param rooms The rooms' state, reported as gauges.
   */
  toPrometheus(memory?: MemoryState, rooms?: RoomsState): string {
    const lines: string[] = [];
    const metric = (
      name: string,
      type: "counter" | "gauge",
      help: string,
      samples: Array<[string, number]>,
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        lines.push(`${name}${labels} ${value}`);
      }
    };
    const labelled = (label: string, map: Map<string | number, number>) =>
      [...map].map(([key, value]): [string, number] => [
        `{${label}="${key}"}`,
        value,
      ]);
    const plain: Array<[string, "counter" | "gauge", string, number]> = [
      [
        "connections_open",
        "gauge",
        "Open WebSocket connections",
        this.connectionsOpen,
      ],
      [
        "sse_streams_open",
        "gauge",
        "Open /sse event streams",
        this.streamsOpen,
      ],
      [
        "connections_total",
        "counter",
        "WebSocket connections accepted",
        this.connectionsTotal,
      ],
      [
        "messages_received_total",
        "counter",
        "Messages received",
        this.messagesIn,
      ],
      [
        "bytes_received_total",
        "counter",
        "Payload bytes received",
        this.bytesIn,
      ],
      ["messages_sent_total", "counter", "Messages sent", this.messagesOut],
      ["bytes_sent_total", "counter", "Payload bytes sent", this.bytesOut],
      [
        "close_timeouts_total",
        "counter",
        "Closes the service started that the client never answered",
        this.closeTimeouts,
      ],
      [
        "listener_recycles_total",
        "counter",
        "Listener recycles (every connection closed, the server listened again)",
        this.recycles,
      ],
      [
        "recycle_closes_total",
        "counter",
        "Connections closed with 1013 by a listener recycle",
        this.recycleCloses,
      ],
      [
        "suspects_listed_total",
        "counter",
        "Client addresses refused for being connected and silent at repeated incidents",
        this.suspectsListed,
      ],
      [
        "uptime_seconds",
        "gauge",
        "Seconds since start",
        Math.floor(this.uptimeSeconds()),
      ],
    ];
    if (memory) {
      plain.push(
        [
          "memory_used_bytes",
          "gauge",
          "Bytes the connections hold (unread, delayed, in flight)",
          memory.usedBytes,
        ],
        [
          "memory_budget_bytes",
          "gauge",
          "MEMORY_BUDGET_BYTES (0 = off)",
          memory.budgetBytes,
        ],
        [
          "resident_memory_bytes",
          "gauge",
          "Process RSS at the last sample",
          memory.rssBytes,
        ],
        [
          "max_rss_bytes",
          "gauge",
          "MAX_RSS_BYTES (0 = off)",
          memory.maxRssBytes,
        ],
        [
          "shedding",
          "gauge",
          "1 while upgrades are refused to shed load",
          memory.shedding ? 1 : 0,
        ],
      );
    }
    if (rooms) {
      plain.push(
        ["rooms_open", "gauge", "Rooms with members here", rooms.rooms],
        [
          "room_members",
          "gauge",
          "Open room members on this instance",
          rooms.members,
        ],
        [
          "room_bridge_connected",
          "gauge",
          "1 while rooms reach other instances (Redis or workers); 0 when down or none",
          rooms.bridge?.connected ? 1 : 0,
        ],
      );
    }
    for (const [name, type, help, value] of plain) {
      metric(`ws_echo_${name}`, type, help, [["", value]]);
    }
    metric(
      "ws_echo_closes_total",
      "counter",
      "Finished connections by close code",
      labelled("code", this.closesByCode),
    );
    metric(
      "ws_echo_refusals_total",
      "counter",
      "Upgrades refused, by reason",
      labelled("reason", this.refusals),
    );
    metric(
      "ws_echo_statuses_asked_total",
      "counter",
      "Upgrades answered with the status the client asked for (status=), by status",
      labelled("status", this.statusesAsked),
    );
    metric(
      "ws_echo_overload_incidents_total",
      "counter",
      "Overload incidents the app cannot count, by cause",
      labelled("cause", this.incidents),
    );
    metric(
      "ws_echo_limit_breaches_total",
      "counter",
      "Connections closed by a limit, by reason",
      labelled("reason", this.breaches),
    );
    return lines.join("\n") + "\n";
  }
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
