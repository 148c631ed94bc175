/**
 * What the routes share: the configuration, the counters, the memory guard,
 * the connection registry, the ids and the log. One instance per app, so
 * tests can run apps side by side. Also the shape of the app that
 * `routes/app.ts` assembles and `start/` serves, so `start/` never imports
 * `routes/`: the entry points hand it `createApp`.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Config } from "./config.ts";
import type { ConnectionSweep } from "./connection/sweep.ts";
import type { HeldSockets } from "./connection/held_sockets.ts";
import type { PeerAckBook } from "./connection/peer_acks.ts";
import type { LoopTurns } from "./connection/loop_turns.ts";
import type { PayloadSeen } from "./connection/traffic.ts";
import type { IdSource } from "./ids.ts";
import type { Log } from "./log.ts";
import type { MemoryGuard } from "./admission/memory_guard.ts";
import type { MemoryPeers } from "./admission/memory_peers.ts";
import type { IncidentAction, IncidentCause, Metrics } from "./metrics.ts";
import type { ConnectionRegistry } from "./admission/slots.ts";
import type { SuspectList } from "./admission/suspects.ts";
import type { SuspectPeers } from "./admission/suspect_peers.ts";
import type { RefusalLog } from "./admission/refusal_log.ts";
import type { RoomRegistry } from "./rooms/registry.ts";

/**
 * How far back `/healthz` counts the listener's failures, in milliseconds:
 * at its descriptor limit the process re-listens 100 ms after each failure
 * and fails again at the next connection, so a look at `accepting` alone
 * found it up and said "ok" while most connections were refused (issue
 * #20: 15 of 43 probes answered, each "ok"). Short, so that a listener
 * back for good is reported so soon after.
 */
export const LISTENER_FAILURE_WINDOW_MS = 3_000;

/**
 * Failures within {@link LISTENER_FAILURE_WINDOW_MS} from which `/healthz`
 * answers 503: the listener failed again after listening again, so new
 * connections are mostly refused or reset, and a load balancer should send
 * them elsewhere. A listener down this instant is 503 too; one failure
 * with the listener back says `not_accepting` with 200.
 */
export const LISTENER_FAILURES_UNHEALTHY = 2;

/** What `/healthz` can report about accepting connections. */
export interface ListenerState {
  /** False while the listener is down and being re-created. */
  accepting: boolean;
  /** Times accepting failed because descriptors ran out, since start-up. */
  acceptFailures: number;
  /** The last such error, e.g. "Too many open files (os error 24)". */
  lastAcceptError?: string;
  /**
   * Times listening again after such a failure failed, since start-up: the
   * port taken by another socket (another process may bind it while this
   * one is not listening), or no descriptor free. Each is logged
   * (`listener_listen_failed`).
   */
  listenFailures: number;
  /** The last such error, e.g. "Address already in use (os error 98)". */
  lastListenError?: string;
  /**
   * When accepting (for want of descriptors) or listening again last failed
   * (`performance.now()` ms); `/healthz` reads it with `recentFailures`.
   */
  lastFailureAt?: number;
  /**
   * Those failures in the {@link LISTENER_FAILURE_WINDOW_MS} up to
   * `lastFailureAt`, that one included.
   */
  recentFailures?: number;
  /**
   * When accepting stopped (`performance.now()` ms), while it is stopped; a
   * listener back for under 5 s before failing again counts as never back,
   * unless a request reached the service through it (`listener.ts`).
   */
  downSince?: number;
  /** Times the listener was recycled by the overload watch. */
  recycles: number;
  /**
   * Under `deno serve`: this worker cannot listen again yet because the
   * other workers still accept on the shared port (`accepting` is true).
   */
  viaOtherWorkers?: boolean;
}

/** What the watch did about an incident (`INCIDENT_ACTIONS`). */
export type { IncidentAction };

/** One incident, as logged and as `/healthz` shows the last one. */
export interface IncidentRecord {
  cause: IncidentCause;
  action: IncidentAction;
  /** ISO 8601. */
  at: string;
  rssBytes: number;
  usedBytes: number;
  eventLoopDelayMs: number;
  /**
   * The share of one core the process used over the detector's window, in
   * percent (event_loop_stall: a loop held late, or busy while nothing flows).
   */
  cpuPercent?: number;
  /** Connections closed with 1013 by the recycle. */
  closed: number;
  /** Connections the RSS watchdog thread aborted (action `aborted`). */
  aborted?: number;
  /** How long the event loop had been held when the thread acted, in ms. */
  eventLoopHeldMs?: number;
  /** Client keys struck (connected and silent through the incident). */
  struck: string[];
  /** Client keys now refused, with the seconds each. */
  refused: Record<string, number>;
  /** RSS once the action was done, in bytes. */
  rssAfterBytes?: number;
  /** How long the port did not accept during the recycle, in ms. */
  downMs?: number;
  /** Leaked upgrades counted (descriptor_leak). */
  leaked?: number;
  /** Why the process ends or the listener is recycled (descriptor_leak, unanswered_closes). */
  reason?: string;
  /**
   * How the kernel's count of each connection's bytes went (`read N
   * sockets`, or why there was none: then every connection was judged by
   * timing alone); only for incidents that judge the connections.
   */
  kernel?: string;
  /** Per key struck on the kernel's count, the bytes the app never saw. */
  unseenBytes?: Record<string, number>;
  error?: string;
}

/** The watch's state, for `/healthz`. */
export interface OverloadState {
  /** False under tests that turn every detector off, and before start. */
  watching: boolean;
  /** `failing` once the process has decided to exit. */
  status: "ok" | "recycling" | "failing";
  sampleMs: number;
  /** The event loop's delay at the last sample, in ms. */
  eventLoopDelayMs: number;
  incidents: number;
  lastIncident: IncidentRecord | null;
  /** True while the RSS watchdog thread runs (`rss_watchdog.ts`). */
  watchdog: boolean;
}

/** A fresh state, before the watch starts. */
export function idleOverloadState(): OverloadState {
  return {
    watching: false,
    status: "ok",
    sampleMs: 100,
    eventLoopDelayMs: 0,
    incidents: 0,
    lastIncident: null,
    watchdog: false,
  };
}

/** Facts about where the service runs, found at start-up. */
export interface Platform {
  /** True on Deno Deploy, which gives the client address as the socket's. */
  denoDeploy: boolean;
}

/** The app's shared state, built once by `createApp`. */
export interface Services {
  config: Config;
  platform: Platform;
  metrics: Metrics;
  memory: MemoryGuard;
  registry: ConnectionRegistry;
  /** The rooms of `/room/NAME`, and the bridge to other instances if any. */
  rooms: RoomRegistry;
  log: Log;
  /**
   * Where refusals are logged: the first of an address and reason at once,
   * the rest as one count a second (`admission/refusal_log.ts`).
   */
  refusalLog: RefusalLog;
  /**
   * The connections' deadlines: the idle timeout (off when
   * IDLE_TIMEOUT_SECONDS is 0), the open deadline and the close timeout.
   */
  sweep: ConnectionSweep;
  /** The instance id and connection ids. */
  ids: IdSource;
  /** Whether the listener accepts, set by the server once it listens. */
  listener: Readonly<ListenerState>;
  /** Addresses refused for being silent at repeated overload incidents. */
  suspects: SuspectList;
  /** What the overload watch sees and did, for `/healthz`. */
  overload: OverloadState;
  /**
   * When the event loop was last seen held, kept by the overload watch: a
   * backlog queued while it was is not a slow reader's (`unread_echoes.ts`).
   */
  turns: LoopTurns;
  /**
   * Where connections tell the payload the app saw of them, set by the
   * overload watch once its watchdog thread runs (`own_peers.ts`): the
   * thread's flood rule subtracts it from what the kernel read.
   */
  payloadSeen: PayloadSeen;
  /**
   * Aborts connections whose Close cannot reach the client, set by the
   * server once it listens (`ss -K`); none under tests of the app alone.
   */
  held?: HeldSockets;
  /**
   * What the kernel says of each client's reading, kept by the server's
   * `AckWatch` while the memory guard is pressed (`peer_acks.ts`); none
   * where `ss` cannot run, and under tests of the app alone.
   */
  acks?: PeerAckBook;
}

/** Hono environment: `c.env` is Deno's per-request connection info. */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>>;
}

/** Options for `createApp`; all optional. */
export interface AppOptions {
  /** Where log records go. @default one text line each on stdout */
  log?: Log;
  /** Where the service runs. @default not on Deno Deploy */
  platform?: Partial<Platform>;
  /** The other workers' memory, under `deno serve --parallel`. @default none */
  memoryPeers?: MemoryPeers;
  /**
   * The other workers' refusals, under `deno serve --parallel`: an address
   * listed in one is refused by all. @default none
   */
  suspectPeers?: SuspectPeers;
  /**
   * Workers of the process sharing MEMORY_BUDGET_BYTES, under `deno serve
   * --parallel`: each holds its part. @default 1
   */
  workers?: number;
}

/** The app, its request handler and the state its routes share. */
export interface EchoApp {
  app: Hono<AppEnv>;
  /** The handler to serve: `app.fetch`, with HEAD left to Deno. */
  fetch: (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;
  services: Services;
}

/** Builds the app from a configuration: `createApp` in `routes/app.ts`. */
export type CreateApp = (config: Config, options?: AppOptions) => EchoApp;
