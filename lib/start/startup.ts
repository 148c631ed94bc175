/**
 * Start-up shared by the two entry points, `main.ts` (`deno run`, it listens
 * itself) and `serve.ts` (`deno serve`, Deno listens): the effective
 * configuration (the environment, then the open-file limit, then the
 * platform's defaults), the app, its log and its OpenTelemetry instruments,
 * and the start-up log record.
 *
 * @module
 */
import { isDenoDeploy } from "../admission/client_ip.ts";
import { BroadcastMemoryPeers } from "../admission/memory_peers.ts";
import { type Config, ConfigError, ENV_NAMES, parseConfig } from "../config.ts";
import { applyFdLimit, readOpenFileLimit } from "./fd_limit.ts";
import { type BatchedLog, batchedLog, type LogRecord } from "../log.ts";
import { ListenError, type ListenUrls } from "./server.ts";
import type { CreateApp, EchoApp } from "../services.ts";
import { connectRooms } from "./room_bridge.ts";
import type { Telemetry, TelemetrySources } from "../telemetry.ts";

/** Reads one environment variable; undefined when unset. */
export type Env = (name: string) => string | undefined;

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
 * import { applyPlatformDefaults } from "./startup.ts";
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

/** How the service is served: by itself, or by `deno serve`. */
export type ServeMode = "run" | "serve";

/** What {@link bootService} built. */
export interface BootedService {
  /** The configuration in force: `/limits` shows these values. */
  config: Config;
  echoApp: EchoApp;
  output: BatchedLog;
  telemetry: Telemetry;
  /** The start-up log record; the entry point logs it once it listens. */
  startRecord: LogRecord;
}

/**
 * Builds the service from the environment: the effective configuration, the
 * log (LOG_FORMAT), the app and its OpenTelemetry instruments. Listens on
 * nothing. A line about MAX_CONNECTIONS lowered to fit the open-file limit
 * goes to stderr.
 *
 * @param env Reads a variable: only the service's own and the platform's, as
 * `--allow-env` permits.
 * @param how `mode` is `serve` under `deno serve`: PORT, BIND_ADDRESS and
 * TLS are then Deno's business and left out of the start-up record.
 * `createApp` assembles the app (`routes/app.ts`'s, handed in by the entry
 * point, since `start/` sits below `routes/`).
 * @throws {ConfigError} When a variable is invalid.
 */
export function bootService(
  env: Env,
  how: { mode: ServeMode; createApp: CreateApp },
): BootedService {
  const { mode, createApp } = how;
  const denoDeploy = isDenoDeploy(env);
  const parsed = parseConfig(
    Object.fromEntries(ENV_NAMES.map((name) => [name, env(name)])),
  );
  // MAX_CONNECTIONS must fit the open-file limit, or accept() fails first.
  const { config: capped, warning } = applyFdLimit(
    parsed,
    readOpenFileLimit(),
  );
  if (warning) console.error(warning);
  const config = applyPlatformDefaults(capped, { denoDeploy, env });
  const output = batchedLog(config.logFormat);
  const echoApp = createApp(config, {
    log: output.log,
    platform: { denoDeploy },
    // Workers of one process share its RSS: each learns the others' share.
    ...(mode === "serve" && config.maxRssBytes > 0
      ? { memoryPeers: new BroadcastMemoryPeers() }
      : {}),
  });
  const roomsBridge = connectRooms(echoApp.services, mode);
  const { metrics, memory, rooms } = echoApp.services;
  const telemetry = otelEnabled(env, denoDeploy)
    ? startTelemetryLater({ metrics, memory, rooms })
    : { dispose() {} };
  return {
    config,
    echoApp,
    output,
    telemetry,
    startRecord: {
      ...startRecord(config, { denoDeploy, mode }),
      roomsBridge,
    },
  };
}

/**
 * True when Deno exports OpenTelemetry: `OTEL_DENO=true`, or always on Deno
 * Deploy. Otherwise the API would only hand out no-op instruments, and its
 * import costs 8.6 ms of every cold start (measured: `await
 * import("@opentelemetry/api")`, 3 runs), so it is not loaded at all.
 */
export function otelEnabled(env: Env, denoDeploy: boolean): boolean {
  const otel = env("OTEL_DENO");
  return denoDeploy || otel === "true" || otel === "1";
}

/** Loads the instruments off the start-up path; dispose works at any time. */
function startTelemetryLater(sources: TelemetrySources): Telemetry {
  let disposed = false;
  const started = import("../telemetry.ts").then(({ startTelemetry }) => {
    const telemetry = startTelemetry(sources);
    if (disposed) telemetry.dispose();
    return telemetry;
  });
  return {
    dispose() {
      disposed = true;
      started.then((telemetry) => telemetry.dispose());
    },
  };
}

/**
 * Settings `deno serve` decides instead of the service. PORT and
 * BIND_ADDRESS are not among them: `deno task serve` hands them to it
 * ({@link serveFlags}), so the record shows them as under `deno task start`.
 */
const SERVE_DECIDES = new Set<keyof Config>([
  "tlsCertFile",
  "tlsKeyFile",
]);

/**
 * The start-up record: Deno's version, where it runs, and every setting in
 * force (after the open-file limit and the platform defaults).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { startRecord } from "./startup.ts";
 * const record = startRecord(DEFAULT_CONFIG, { denoDeploy: false, mode: "run" });
 * assert.equal(record.event, "start");
 * assert.equal(record.deno, Deno.version.deno);
 * assert.equal(record.maxMessageBytes, 1048576);
 * ```
 */
export function startRecord(
  config: Config,
  about: { denoDeploy: boolean; mode: ServeMode },
): LogRecord {
  const record: LogRecord = {
    event: "start",
    deno: Deno.version.deno,
    mode: about.mode,
    denoDeploy: about.denoDeploy,
  };
  for (const [key, value] of Object.entries(config)) {
    if (about.mode === "serve" && SERVE_DECIDES.has(key as keyof Config)) {
      continue;
    }
    record[key] = Array.isArray(value)
      ? value.join(",")
      : key === "redisUrl" && typeof value === "string"
      ? withoutPassword(value)
      : value;
  }
  return record;
}

/**
 * A URL as it may be logged: a password in it becomes `***`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withoutPassword } from "./startup.ts";
 * assert.equal(withoutPassword("redis://:s3cret@db:6379"), "redis://:***@db:6379");
 * assert.equal(withoutPassword("redis://db:6379"), "redis://db:6379");
 * ```
 */
export function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password === "") return url;
  parsed.password = "***";
  return parsed.href;
}

/**
 * For `deno task serve`, which must tell `deno serve` where to listen: checks
 * every setting as `deno task start` would and prints `--port=PORT
 * --host=HOST`. HOST is BIND_ADDRESS (IPv6 in brackets, as `deno serve`
 * wants it), or when unset `[::]`, which takes IPv6 and IPv4 clients alike,
 * and `0.0.0.0` where the machine has no IPv6 (as `deno task start` listens).
 * A bad value prints one line naming it and exits with 2, before `deno serve`
 * starts.
 */
export function serveFlags(env: Env = (name) => Deno.env.get(name)): void {
  try {
    const config = parseConfig(
      Object.fromEntries(ENV_NAMES.map((name) => [name, env(name)])),
    );
    console.log(`--port=${config.port} --host=${serveHost(config)}`);
  } catch (error) {
    exitOnStartupError(error);
  }
}

/** Where `deno serve` listens: see {@link serveFlags}. */
export function serveHost(
  config: Pick<Config, "bindAddress">,
  hasIpv6: () => boolean = canListenOnIpv6,
): string {
  const address = config.bindAddress;
  if (address !== undefined) {
    return address.includes(":") ? `[${address}]` : address;
  }
  return hasIpv6() ? "[::]" : "0.0.0.0";
}

/** True when this machine can listen on `::` (it has IPv6). */
function canListenOnIpv6(): boolean {
  try {
    Deno.listen({ hostname: "::", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * The first line of output, saying where to connect: `ws-echo: page … echo …`
 * as text, or a `listening` record with LOG_FORMAT=json. Written at once
 * (and not with `console.log`, which under `deno serve --parallel` prefixes
 * the worker's name).
 */
export function announceListening(
  urls: ListenUrls,
  output: BatchedLog,
  format: Config["logFormat"],
): void {
  if (format === "json") {
    output.log({ event: "listening", ...urls });
    output.flush();
    return;
  }
  Deno.stdout.writeSync(
    new TextEncoder().encode(`ws-echo: page ${urls.page}  echo ${urls.echo}\n`),
  );
}

/** Prints a start-up failure in one line and exits non-zero; rethrows bugs. */
export function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError || error instanceof ListenError) {
    console.error(`ws-echo: ${error.message}`);
  } else if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    console.error(`ws-echo: Missing permission: ${error.message}`);
  } else {
    throw error;
  }
  Deno.exit(2);
}
