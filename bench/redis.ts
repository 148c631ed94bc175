/**
 * A real `redis-server` for tests and benchmarks (Debian's package; `.ci/run` installs it):
 * on a free loopback port, with nothing saved to disk, stopped by
 * `await using` or by this process's death. It can be stopped and started again on the same port, to
 * test what the service does while Redis is away.
 *
 * @module
 */
import { freePort, withDeadline } from "./wire.ts";
import { dieWithParent } from "./parent_death.ts";

/** The path of Debian's redis-server. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** A redis-server the test started. */
export interface TestRedis extends AsyncDisposable {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it accepts. */
  start(): Promise<void>;
}

/** Starts redis-server on a free 127.0.0.1 port and waits until it accepts. */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  let drained: Promise<void> = Promise.resolve();
  const start = async () => {
    const [program, args] = dieWithParent(REDIS_SERVER, [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
    ]);
    child = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    const reader = lines.getReader();
    let text = "";
    await withDeadline(
      (async () => {
        while (!text.includes("Ready to accept connections")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`redis-server exited: ${text}`);
          text += value;
        }
      })(),
      10_000,
      `redis-server to accept on port ${port}`,
    );
    // Keep draining its output so it never blocks on a full pipe.
    drained = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    running.kill("SIGTERM");
    await withDeadline(running.status, 10_000, "redis-server to stop");
    await drained;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
