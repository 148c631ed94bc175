/**
 * The configuration in force: the environment's settings (`SETTINGS` in
 * `config.ts`), then MAX_CONNECTIONS lowered to fit the open-file limit, then
 * the defaults of the platform the service runs on.
 *
 * @module
 */
import { type Config, ENV_NAMES, parseConfig } from "../config.ts";
import { applyFdLimit, type OpenFileLimit } from "./fd_limit.ts";

/** Reads one environment variable; undefined when unset. */
export type Env = (name: string) => string | undefined;

/**
 * The settings the environment gives, parsed.
 *
 * @throws {ConfigError} When a variable is invalid.
 */
export function readConfig(env: Env): Config {
  return parseConfig(
    Object.fromEntries(ENV_NAMES.map((name) => [name, env(name)])),
  );
}

/**
 * The configuration in force: {@link readConfig}, the open-file cap, then
 * {@link applyPlatformDefaults}. A line about MAX_CONNECTIONS lowered to fit
 * the open-file limit goes to stderr.
 *
 * @param platform Whether it runs on Deno Deploy, the open-file limit read
 * at start-up (`readOpenFileLimit`; the tasks learn it later,
 * `learned_cap.ts`) and the workers sharing it.
 * @throws {ConfigError} When a variable is invalid.
 */
export function effectiveConfig(
  env: Env,
  platform: {
    denoDeploy: boolean;
    openFileLimit: OpenFileLimit | "unknown";
    workers: number;
  },
): Config {
  // MAX_CONNECTIONS must fit the open-file limit, or accept() fails first.
  const { config: capped, warning } = applyFdLimit(
    readConfig(env),
    platform.openFileLimit,
    platform.workers,
  );
  if (warning) console.error(warning);
  return applyPlatformDefaults(capped, {
    denoDeploy: platform.denoDeploy,
    env,
  });
}

/**
 * PING_INTERVAL_SECONDS on Deno Deploy when the variable is unset. Deploy
 * stops an instance that has had no traffic for "between 5 seconds and 10
 * minutes" (docs.deno.com/deploy/reference/runtime, Shutdown), and ping and
 * pong frames count as traffic. Deno pings after half the interval without a
 * frame from the client (`_serverHandleIdleTimeout` in Deno's
 * ext/websocket/01_websocket.js), so 8 s means a ping every 4 s of silence:
 * under the 5 s floor, and an idle tutorial tab keeps its connection.
 */
export const DENO_DEPLOY_PING_INTERVAL_SECONDS = 8;

/**
 * A copy of `config` with the defaults of the platform it runs on: on Deno
 * Deploy, PING_INTERVAL_SECONDS is {@link DENO_DEPLOY_PING_INTERVAL_SECONDS}
 * unless the variable is set, which always wins.
 *
 * @param config The parsed configuration; not modified.
 * @param platform Whether it runs on Deno Deploy, and the environment.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { applyPlatformDefaults } from "./effective_config.ts";
 * const onDeploy = applyPlatformDefaults(DEFAULT_CONFIG, {
 *   denoDeploy: true,
 *   env: () => undefined,
 * });
 * assert.equal(onDeploy.pingIntervalSeconds, 8);
 * ```
 */
export function applyPlatformDefaults(
  config: Config,
  platform: { denoDeploy: boolean; env: Env },
): Config {
  if (!platform.denoDeploy) return config;
  if (platform.env("PING_INTERVAL_SECONDS") !== undefined) return config;
  return { ...config, pingIntervalSeconds: DENO_DEPLOY_PING_INTERVAL_SECONDS };
}
