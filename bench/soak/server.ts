/**
 * The service under soak, started with the start task's flags (directly, so
 * its pid is the server's), every limit at its default, on a free loopback
 * port; and what is read from outside it: `/healthz`, VmRSS.
 *
 * @module
 */
import { ROOT, startTaskArgs } from "../service.ts";
import { freePort } from "../wire.ts";
import { HOST, KiB, sleep } from "./shared.ts";

/** How long the server may take to answer `/healthz` after it is spawned. */
const START_TIMEOUT_MS = 30_000;
/** After SIGTERM, how long before SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

/** The running server. */
export interface SoakServer {
  pid: number;
  port: number;
  /** Its exit status once it exited. */
  exit: Deno.CommandStatus | undefined;
  /** True if it exited before {@linkcode SoakServer.stop}. */
  died: boolean;
  /** The last 8 KiB of its stderr. */
  stderrTail(): string;
  /** Waits until `/healthz` answers, at most 30 s. */
  ready(signal: AbortSignal): Promise<void>;
  /** SIGTERM, SIGKILL after 10 s; waits for the exit and the end of stderr. */
  stop(): Promise<void>;
}

/**
 * Starts the server; `onDied` is called if it exits before `stop()`.
 *
 * @throws {Error} From `ready()`, if `/healthz` does not answer within 30 s.
 */
export async function startServer(
  onDied: (status: Deno.CommandStatus) => void,
): Promise<SoakServer> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: await startTaskArgs(),
    cwd: ROOT,
    env: { PORT: String(port), BIND_ADDRESS: HOST },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const stderrDone = (async () => {
    for await (
      const text of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      stderr = (stderr + text).slice(-8 * KiB);
    }
  })();
  let stopping = false;
  const server: SoakServer = {
    pid: child.pid,
    port,
    exit: undefined,
    died: false,
    stderrTail: () => stderr,
    async ready(signal) {
      const deadline = performance.now() + START_TIMEOUT_MS;
      while (!signal.aborted) {
        try {
          const response = await fetch(`http://${HOST}:${port}/healthz`, {
            signal: AbortSignal.timeout(2000),
          });
          await response.body?.cancel();
          if (response.ok) return;
        } catch {
          // Not listening yet.
        }
        if (performance.now() > deadline) {
          throw new Error(
            `The server did not answer /healthz within ${
              START_TIMEOUT_MS / 1000
            } s`,
          );
        }
        await sleep(20, signal);
      }
    },
    async stop() {
      stopping = true;
      if (server.exit === undefined) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await status;
        clearTimeout(killer);
      }
      await stderrDone.catch(() => {});
    },
  };
  const status = child.status.then((exit) => {
    server.exit = exit;
    if (!stopping) {
      server.died = true;
      onDied(exit);
    }
    return exit;
  });
  return server;
}

/** The process's resident set (VmRSS) in KiB, or undefined once it is gone. */
export function readRssKiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /VmRSS:\s+(\d+)/.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
