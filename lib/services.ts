/**
 * What the routes share: the configuration, the counters, the memory guard,
 * the connection registry, the ids and the log. One instance per app, so
 * tests can run apps side by side.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { IdleWatch } from "./connection/idle_sweep.ts";
import type { IdSource } from "./ids.ts";
import type { ListenerState } from "./start/listener.ts";
import type { Log } from "./log.ts";
import type { MemoryGuard } from "./admission/memory_guard.ts";
import type { Metrics } from "./metrics.ts";
import type { ConnectionRegistry } from "./admission/slots.ts";

/** Facts about where the service runs, found at start-up. */
export interface Platform {
  /** True on Deno Deploy, which gives the client address as the socket's. */
  denoDeploy: boolean;
  /** Where the client IP comes from, for `/inspect` and the start-up log. */
  ipSource: string;
}

/** The app's shared state, built once by `createApp`. */
export interface Services {
  config: Config;
  platform: Platform;
  metrics: Metrics;
  memory: MemoryGuard;
  registry: ConnectionRegistry;
  log: Log;
  /** The idle-timeout sweep; undefined when IDLE_TIMEOUT_SECONDS is 0. */
  idle: IdleWatch | undefined;
  /** The instance id and connection ids. */
  ids: IdSource;
  /** Whether the listener accepts, set by the server once it listens. */
  listener: Readonly<ListenerState>;
}

/** Hono environment: `c.env` is Deno's per-request connection info. */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>>;
}
