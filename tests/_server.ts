/**
 * The service under test: in process on 127.0.0.1 port 0
 * ({@linkcode startTestServer}), or as its own process with the start task's
 * flags (re-exported from bench/service.ts, which bench/ shares).
 *
 * @module
 */
import { createApp } from "../routes/app.ts";
import { formatText, type LogRecord } from "../lib/log.ts";
import { parseConfig } from "../lib/config.ts";
import type { Services } from "../lib/services.ts";
import { type RunningServer, startServer } from "../lib/start/server.ts";
import { type WaitOptions, withDeadline } from "../bench/wire.ts";

export {
  DEFAULT_PROCESS_TIMEOUT_MS,
  killGroup,
  ROOT,
  type RunningService,
  serveTaskArgs,
  type SpawnOptions,
  spawnServeTask,
  spawnService,
  startService,
  startTaskArgs,
  waitForExit,
} from "../bench/service.ts";
export {
  readServeTask,
  readServiceLog,
  type ServeTaskRun,
  type ServiceLog,
} from "../bench/service_log.ts";

/** A server started for one test; `await using` stops it. */
export interface TestServer extends AsyncDisposable {
  server: RunningServer;
  services: Services;
  port: number;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  http: string;
  /** `ws://127.0.0.1:<port>`, no trailing slash. */
  ws: string;
  /** Every line the app logged, as text. */
  logs: string[];
  /** Every record the app logged. */
  records: LogRecord[];
  /**
   * Resolves once every WebSocket the server tracks has closed (and its close
   * is logged); fails after `timeoutMs` (5 s unless told).
   *
   * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for every connection of the test server to close`
   */
  allClosed(options?: WaitOptions): Promise<void>;
}

/**
 * Starts the service in this process on port 0 with `env` on top of the
 * defaults (BIND_ADDRESS 127.0.0.1, MAX_RSS_BYTES 0).
 *
 * @example
 * ```ts ignore
 * await using server = startTestServer({ MAX_MESSAGE_BYTES: "1024" });
 * const { socket, inbox } = await connect(`${server.ws}/echo`);
 * ```
 */
export function startTestServer(
  env: Record<string, string> = {},
  options: {
    /**
     * Whether the overload watch runs (it does under `deno task start`).
     * @default true
     */
    overloadWatch?: boolean;
    /**
     * Whether the kernel-count check runs (it does under `deno task
     * start`); its readings feed the kernel's word on who reads too.
     * @default false
     */
    kernelCheck?: boolean;
  } = {},
): TestServer {
  const logs: string[] = [];
  const records: LogRecord[] = [];
  const echoApp = createApp(
    // The RSS watch is off unless a test asks for it: every test server
    // shares this process's RSS, which the flood tests raise.
    parseConfig({
      BIND_ADDRESS: "127.0.0.1",
      MAX_RSS_BYTES: "0",
      // Likewise the stall watch: a busy test process must not recycle.
      EVENT_LOOP_STALL_MS: "0",
      ...env,
      PORT: "0",
    }),
    {
      log: (record) => {
        records.push(record);
        logs.push(formatText(record));
      },
    },
  );
  const server = startServer(echoApp, options);
  const port = server.addr.port;
  return {
    server,
    services: echoApp.services,
    port,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    logs,
    records,
    allClosed: (options = {}) =>
      withDeadline(
        echoApp.services.registry.whenEmpty(),
        options.timeoutMs ?? 5000,
        "every connection of the test server to close",
      ),
    async [Symbol.asyncDispose]() {
      // A server Deno could not stop would leak its ops into the next test.
      if (!await server.shutdown()) {
        throw new Error("Deno's server did not stop after the drain");
      }
    },
  };
}
