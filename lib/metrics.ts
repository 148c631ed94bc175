/**
 * Counters for `/metrics` (Prometheus text format), `/healthz` and
 * OpenTelemetry, and the states the memory guard, the rooms and the
 * overload watch report beside them; the catalogue that `/metrics` and
 * `telemetry.ts` are written from is `metric_catalogue.ts`. Per-message
 * updates are plain field increments; labelled counters change per
 * connection or per refusal only.
 *
 * @module
 */

import { RecentIncidents } from "./overload_pressure.ts";
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
}

function increment<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}
