/**
 * Start-up shared by the two entry points, `main.ts` (`deno run`, it listens
 * itself) and `serve.ts` (`deno serve`, Deno listens): the service built from
 * the environment (the configuration in force from `effective_config.ts`,
 * the app, its log and its OpenTelemetry instruments, the record from
 * `start_record.ts`), and the port `deno task serve` needs. What the entry
 * points print is `announce.ts`.
 *
 * @module
 */
import { isDenoDeploy } from "../admission/client_ip.ts";
import { BroadcastMemoryPeers } from "../admission/memory_peers.ts";
import { BroadcastSuspectPeers } from "../admission/suspect_peers.ts";
import { type Config, ConfigError } from "../config.ts";
import { type BatchedLog, batchedLog, type LogRecord } from "../log.ts";
import type { CreateApp, EchoApp } from "../services.ts";
import { connectRooms } from "./room_bridge.ts";
import type { Telemetry, TelemetrySources } from "../telemetry.ts";
import { exitOnStartupError } from "./announce.ts";
import { ListenError } from "./server.ts";
import { effectiveConfig, type Env, readConfig } from "./effective_config.ts";
import { type ServeMode, startRecord } from "./start_record.ts";
import { configWarnings } from "./config_warnings.ts";
import { kernelCounts } from "./socket_bytes.ts";
import { type OpenFileLimit, readOpenFileLimit } from "./fd_limit.ts";

/** What {@link bootService} built. */
export interface BootedService {
  /** The configuration in force: `/limits` shows these values. */
  config: Config;
  echoApp: EchoApp;
  output: BatchedLog;
  telemetry: Telemetry;
  /**
   * Whether Deno exports OpenTelemetry ({@link otelEnabled}): `Deno.exit`
   * can deadlock then, so a stop never calls it (`process_end.ts`).
   */
  otel: boolean;
  /** The start-up log record; the entry point logs it once it listens. */
  startRecord: LogRecord;
  /**
   * Settles once what start-up loads in the background (the Redis client,
   * with REDIS_URL) is loaded: the entry point waits for it before it
   * listens (`room_bridge.ts` says why).
   */
  loaded: Promise<void>;
  /**
   * The open-file limit as read at start-up (`/proc/self/limits`, only with
   * `--allow-all`): "unknown" under the tasks, which learn it once listening
   * (`learnCap` in `learned_cap.ts`).
   */
  openFileLimit: OpenFileLimit | "unknown";
  /**
   * The workers of the process ({@link serveWorkers} under `deno serve`,
   * else 1): they share the memory budget and hear each stop signal.
   */
  workers: number;
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
 * @throws {ConfigError} When a variable is invalid, or under `deno serve`
 * when the TLS files are set ({@link refuseTlsUnderServe}).
 */
export function bootService(
  env: Env,
  how: { mode: ServeMode; createApp: CreateApp },
): BootedService {
  const { mode, createApp } = how;
  const denoDeploy = isDenoDeploy(env);
  const workers = mode === "serve" ? serveWorkers(env) : 1;
  const openFileLimit = readOpenFileLimit();
  const config = effectiveConfig(env, { denoDeploy, openFileLimit, workers });
  if (mode === "serve") refuseTlsUnderServe(config);
  const output = batchedLog(config.logFormat);
  for (const message of configWarnings(config, { denoDeploy })) {
    output.log({ event: "warning", message });
  }
  const echoApp = createApp(config, {
    log: output.log,
    platform: { denoDeploy },
    // Workers of one process share its RSS: each learns the others' share.
    ...(mode === "serve" && config.maxRssBytes > 0
      ? { memoryPeers: new BroadcastMemoryPeers() }
      : {}),
    // ... and its memory budget: each holds its part. An address listed in
    // one worker is refused by all.
    workers,
    ...(mode === "serve" ? { suspectPeers: new BroadcastSuspectPeers() } : {}),
  });
  const bridge = connectRooms(echoApp.services, mode);
  const { metrics, memory, rooms } = echoApp.services;
  const otel = otelEnabled(env, denoDeploy);
  const telemetry = otel
    ? startTelemetryLater({ metrics, memory, rooms })
    : { dispose() {} };
  return {
    config,
    echoApp,
    output,
    telemetry,
    otel,
    startRecord: {
      ...startRecord(config, { denoDeploy, mode }),
      roomsBridge: bridge.kind,
      kernelCounts: kernelCounts(),
    },
    loaded: bridge.loaded,
    openFileLimit,
    workers,
  };
}

/**
 * How many workers `deno serve --parallel` runs: DENO_JOBS when set, else
 * one per CPU (Deno's rule; `deno task serve` sets neither). They share the
 * memory budget (`MemoryGuard`'s `workers`).
 */
export function serveWorkers(env: Env): number {
  const jobs = Number(env("DENO_JOBS"));
  return Number.isInteger(jobs) && jobs > 0
    ? jobs
    : navigator.hardwareConcurrency || 1;
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

/** Options for {@link serveFlags}. */
export interface ServeFlagsOptions {
  /** Reads one environment variable. @default Deno.env.get */
  env?: Env;
  /**
   * Also listen on the address for a moment, so a port another process
   * holds stops here with one line. Only the task's first, checking call
   * does: the second one's output becomes the flags, and its failure would
   * leave `deno serve` on its defaults. @default false
   */
  probe?: boolean;
  /** Listens, for the probe; tests pass a fake. @default Deno.listen */
  listen?: (options: Deno.TcpListenOptions) => Deno.Listener;
}

/**
 * For `deno task serve`, which must tell `deno serve` where to listen: checks
 * every setting as `deno task start` would and prints `--port=PORT
 * --host=HOST`. HOST is BIND_ADDRESS (IPv6 in brackets, as `deno serve`
 * wants it), or when unset `[::]`, which takes IPv6 and IPv4 clients alike,
 * and `0.0.0.0` where the machine has no IPv6 (as `deno task start` listens).
 * A bad value, or with `probe` a port another process listens on, prints one
 * line naming it and exits with 2, before `deno serve` starts (which would
 * die with an uncaught AddrInUse and a stack trace).
 */
export function serveFlags(options: ServeFlagsOptions = {}): void {
  const env = options.env ?? ((name) => Deno.env.get(name));
  try {
    const config = readConfig(env);
    refuseTlsUnderServe(config);
    const host = serveHost(config);
    if (options.probe && config.port !== 0) {
      probePort(host, config.port, options.listen ?? Deno.listen);
    }
    console.log(`--port=${config.port} --host=${host}`);
  } catch (error) {
    exitOnStartupError(error);
  }
}

/**
 * `deno serve` listens itself, and Deno 2.9 gives it no server certificate
 * (`deno serve --help` of 2.9.6: its `--cert` loads a certificate authority
 * for outgoing requests; there is no `--key`): the TLS files would be
 * ignored and the service would serve plain `ws://` to someone who asked for
 * `wss://`. So they stop start-up, with one line naming them, before `deno
 * serve` starts.
 *
 * @throws {ConfigError} When TLS_CERT_FILE (and so TLS_KEY_FILE) is set.
 */
export function refuseTlsUnderServe(
  config: Pick<Config, "tlsCertFile">,
): void {
  if (config.tlsCertFile === undefined) return;
  throw new ConfigError(
    `Cannot use TLS_CERT_FILE and TLS_KEY_FILE under deno task serve: deno serve cannot listen with TLS; use deno task start, or unset them and end TLS at a proxy in front`,
  );
}

/**
 * Listens on the address for a moment and closes it again.
 *
 * @throws {ListenError} When the port is taken, or the address is not one
 * this machine has.
 */
function probePort(
  host: string,
  port: number,
  listen: (options: Deno.TcpListenOptions) => Deno.Listener,
): void {
  const hostname = host.replace(/^\[(.*)\]$/, "$1");
  try {
    listen({ hostname, port }).close();
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) throw error;
    throw new ListenError(
      `Cannot listen on ${hostname} port ${port}: ${
        (error as Error).message
      } (set BIND_ADDRESS or PORT)`,
    );
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
