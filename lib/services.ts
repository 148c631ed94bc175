/**
 * What the routes share: the configuration, the counters, the connection
 * registry, the ids and the log. One instance per app, so tests can run apps side by side.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { Log } from "./connection.ts";
import type { IdleWatch } from "./idle.ts";
import type { IdSource } from "./ids.ts";
import type { Metrics } from "./metrics.ts";
import type { ConnectionRegistry } from "./registry.ts";

/** The app's shared state, built once by `createApp`. */
export interface Services {
  config: Config;
  metrics: Metrics;
  registry: ConnectionRegistry;
  log: Log;
  /** The idle-timeout sweep; undefined when IDLE_TIMEOUT_SECONDS is 0. */
  idle: IdleWatch | undefined;
  /** The instance id and connection ids. */
  ids: IdSource;
  /** Absolute path of the folder served at `/`. */
  staticRoot: string;
}

/** Hono environment: `c.env` is Deno's per-request connection info. */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>>;
}
