/**
 * The two servers `deno task bench` compares, each started on a free
 * loopback port as its own process: the bare Deno echo (the reference) and
 * the service with the start task's flags and {@link RAISED_LIMITS}.
 *
 * @module
 */
import { ROOT, startTaskArgs } from "../service.ts";
import { freePort } from "../wire.ts";
import { echoFrames, echoOnce, openSocket, type RawSocket } from "../load.ts";

/** Raised for the run; everything else stays at its default. */
export const RAISED_LIMITS: Record<string, string> = {
  RATE_LIMIT_MESSAGES_PER_SECOND: "1000000000",
  RATE_LIMIT_MESSAGE_BURST: "1000000000",
  RATE_LIMIT_BYTES_PER_SECOND: String(2 ** 40),
  RATE_LIMIT_BYTE_BURST: String(2 ** 40),
  // Every load connection comes from 127.0.0.1: one address.
  RATE_LIMIT_IP_MESSAGES_PER_SECOND: "1000000000",
  RATE_LIMIT_IP_MESSAGE_BURST: "1000000000",
  MAX_CONNECTIONS_PER_IP: "20000",
  // Opening 10,000 idle connections is no message flow, and on a busy
  // machine the loop runs late: the overload watch took it for a flood and
  // recycled the listener mid-scenario (ConnectionReset, load average 28).
  EVENT_LOOP_STALL_MS: "0",
};

/**
 * How long a server is left after its first echo before anything else is
 * measured, in ms. The service starts its RSS watchdog thread (a `Worker`,
 * +13-16 MiB, ~75 ms of CPU) 300 ms after its overload watch, so after the
 * first echo: read at once, the idle scenario's RSS before its first 100 ->
 * 1,000 step sometimes missed the thread and the step then charged it to
 * the connections (40.9 KiB per connection instead of 24-27 in one round of
 * three, load 1.1: the ninth round's 1.86), and the traffic scenarios
 * shared pinned CPU 0 with the isolate being made. 2 s leaves room for the
 * 300 ms and the isolate on a loaded machine (120-240 ms at load 24). The
 * scale curve waits as long before its RSS base (`scale_run.ts`).
 */
export const SETTLE_MS = 2000;

/** Which server. */
export type Target = "reference" | "service";
/** Both, in the order each round runs them. */
export const TARGETS: Target[] = ["reference", "service"];

/** A started target. */
export interface Server {
  child: Deno.ChildProcess;
  port: number;
  /** Spawn to first echo, in ms. */
  coldStartMs: number;
}

/** A 32-byte text message: the probe of a start and the small-message load. */
export const SMALL = echoFrames(1, new TextEncoder().encode("x".repeat(32)));

/** Servers still running: killed if the run is interrupted or fails. */
const running = new Set<Deno.ChildProcess>();

/** On SIGINT or SIGTERM, kills every server still running and exits 130. */
export function stopServersOnSignal(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      killRunning();
      console.error(`bench: ${signal}: stopped ${running.size} server(s)`);
      Deno.exit(130);
    });
  }
}

/** Kills every server still running (a failed run leaves nothing behind). */
export function killRunning(): void {
  for (const child of running) child.kill("SIGKILL");
}

/**
 * Whether {@linkcode start} can pin servers to CPU 0 (its `pinned`): with
 * two cores or more and util-linux's `taskset` on PATH.
 */
export async function canPin(): Promise<boolean> {
  if (navigator.hardwareConcurrency < 2) return false;
  const found = await new Deno.Command("sh", {
    args: ["-c", "command -v taskset"],
    stdout: "null",
  }).output();
  return found.success;
}

/** Spawns a target and measures the time to its first echo. */
export async function start(
  target: Target,
  options: {
    /** Pins the server to CPU 0 with taskset. */
    pinned: boolean;
    /** The service's environment on top of {@link RAISED_LIMITS}. */
    extraEnv?: Record<string, string>;
    /**
     * Runs this file in place of the bundle the start task runs, with the
     * same flags (`bench/cold_start.ts` compares two bundles this way).
     */
    entry?: string;
    /**
     * Drops the start task's `--v8-flags=...` from the service's command:
     * the service as Deno Deploy runs it, which takes no V8 flags.
     */
    noV8Flags?: boolean;
    /**
     * Called once the first echo is back, before the client closes that
     * connection: what the server did until then, without the close.
     */
    atFirstEcho?: (child: Deno.ChildProcess) => void;
  },
): Promise<Server> {
  const { extraEnv = {}, entry } = options;
  const port = freePort();
  const command = target === "reference"
    ? [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-env=PORT",
      "bench/reference_server.ts",
    ]
    : [
      Deno.execPath(),
      ...withEntry(await startTaskArgs(), entry).filter((arg) =>
        !(options.noV8Flags && arg.startsWith("--v8-flags="))
      ),
    ];
  const argv = options.pinned ? ["taskset", "-c", "0", ...command] : command;
  const started = performance.now();
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    env: {
      PORT: String(port),
      BIND_ADDRESS: "127.0.0.1",
      ...(target === "service" ? { ...RAISED_LIMITS, ...extraEnv } : {}),
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  running.add(child);
  let socket: RawSocket;
  for (;;) {
    try {
      socket = await openSocket(port);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (performance.now() - started > 30_000) {
        throw new Error(`${target} did not answer within 30 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  let coldStartMs: number;
  try {
    await echoOnce(socket, SMALL);
    coldStartMs = performance.now() - started;
    options.atFirstEcho?.(child);
  } finally {
    socket.conn.close();
  }
  return { child, port, coldStartMs };
}

/** The start task's arguments with its last one, the file, replaced. */
function withEntry(args: string[], entry: string | undefined): string[] {
  return entry === undefined ? args : [...args.slice(0, -1), entry];
}

/**
 * SIGTERM, then SIGKILL after 10 s; or SIGKILL at once with `kill` (a loop
 * of starts has no use for the graceful shutdown).
 */
export async function stop(
  server: Server,
  options: { kill?: boolean } = {},
): Promise<void> {
  server.child.kill(options.kill ? "SIGKILL" : "SIGTERM");
  const killer = setTimeout(() => {
    // It may have exited as the 10 s ran out, before `status` settled: kill
    // then throws "Child process has already terminated" (a 06:50 run ended
    // that way in round 2).
    try {
      server.child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
  }, 10_000);
  await server.child.status;
  clearTimeout(killer);
  running.delete(server.child);
}
