/**
 * Under `deno task serve` a worker starts its RSS watchdog thread while
 * another worker accepts: when the other worker takes every descriptor at
 * that moment, the start must not end the process (Deno 2.9.6 panics when a
 * `Worker`'s runtime gets no descriptor: `runtime/tokio_util.rs:66`, Too
 * many open files). The fixture holds one worker's start until the process
 * has fewer descriptors free than that runtime needs
 * (`tests/fixtures/watchdog_start_hold.ts`), which
 * makes that moment certain.
 *
 * @module
 */
import assert from "node:assert/strict";
import { serveTaskArgs } from "../_server.ts";
import { until } from "../_client.ts";
import { connectIdle, spawnLimited } from "../_limited.ts";
import { freePort, withDeadline } from "../../bench/wire.ts";

const LIMIT = 128;
/** Enough idle connections to use up LIMIT descriptors several times. */
const MAX_IDLE = LIMIT * 4;

/** The serve task's arguments, with the fixture in place of the bundle. */
async function heldServeArgs(lockDir: string): Promise<string[]> {
  const args = await serveTaskArgs(freePort());
  assert.equal(args.at(-1), "dist/serve.js");
  return [
    ...args.slice(0, -1),
    `--allow-write=${lockDir}`,
    "tests/fixtures/serve_watchdog_hold.ts",
    lockDir,
  ];
}

/** Whether `/healthz` answers 200 within 5 s. */
async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(5000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "deno task serve survives running out of descriptors while a worker starts its RSS watchdog thread",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const lockDir = await Deno.makeTempDir({ prefix: "watchdog_hold_" });
    const idle: Deno.Conn[] = [];
    try {
      await using child = await spawnLimited(
        LIMIT,
        await heldServeArgs(lockDir),
        { env: { DENO_JOBS: "2" } },
      );
      const said = (text: string) => child.stdout().includes(text);
      try {
        await until(() => said("watchdog start held"), "a start held", {
          timeoutMs: 30_000,
        });
        // The held worker accepts nothing: the other one takes them all.
        const deadline = performance.now() + 30_000;
        while (!said("watchdog start released") && !child.exited()) {
          assert.ok(
            performance.now() < deadline,
            `not short of descriptors after ${idle.length} idle connections`,
          );
          if (idle.length >= MAX_IDLE) {
            await until(
              () => said("watchdog start released") || child.exited(),
              "short of descriptors",
              { timeoutMs: Math.max(0, deadline - performance.now()) },
            );
            break;
          }
          try {
            idle.push(await connectIdle(child.port));
          } catch (error) {
            // Refused or reset while the other worker's listener is down.
            if (
              !(error instanceof Deno.errors.ConnectionRefused) &&
              !(error instanceof Deno.errors.ConnectionReset) &&
              !(error instanceof Deno.errors.NotConnected) &&
              !(error instanceof Deno.errors.TimedOut)
            ) throw error;
            await until(
              () => said("watchdog start released") || child.exited(),
              "short of descriptors",
              { timeoutMs: 10_000 },
            );
          }
        }
        assert.doesNotMatch(child.stdout(), /hold timed out/);
        await until(
          () => said("watchdog start went on") || child.exited(),
          "the start went on",
          { timeoutMs: 10_000 },
        );
        assert.equal(child.exited(), false, "the process ended");
        assert.doesNotMatch(child.stderr(), /panicked/);

        // Descriptors back: the process serves, and stops as asked.
        for (const conn of idle.splice(0)) conn.close();
        // The listener comes back within its 5 s backoff ceiling; a busy
        // machine gets six times that.
        const retryUntil = performance.now() + 30_000;
        while (!(await healthy(child.port))) {
          assert.ok(performance.now() < retryUntil, "/healthz never answered");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const status = child.status;
        child.kill("SIGTERM");
        assert.equal((await withDeadline(status, 15_000, "exit")).code, 0);
        assert.doesNotMatch(child.stderr(), /panicked/);
      } catch (error) {
        throw new Error(
          `${
            (error as Error).message
          }\n--- child stdout ---\n${child.stdout()}\n--- child stderr ---\n${child.stderr()}`,
          { cause: error },
        );
      }
    } finally {
      for (const conn of idle) conn.close();
      await Deno.remove(lockDir, { recursive: true });
    }
  },
});
