/**
 * A listener that runs out of descriptors again and again, as a crowd of
 * reconnecting clients makes it (stranger14: 250 honest and 60 non-reading
 * clients under `prlimit --nofile=256`), comes back within about 100 ms of
 * each failure: before, each failure within 5 s of the last recovery
 * doubled the wait (100 ms to 5 s), each longer wait let a larger crowd
 * meet the next listener, and `/healthz` went unanswered for 8-20 s.
 * Real sockets, `prlimit --nofile=64`, the start task's flags; about 3 s.
 * What it asserts is what the listener says it does (`retry_ms`), not how
 * long the answers took: a busy machine can hold the process for seconds
 * (a 4 s SIGSTOP failed the old `< 3500 ms`), and speed is for benchmarks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTaskArgs } from "../_server.ts";
import { connectIdle, type LimitedChild, spawnLimited } from "../_limited.ts";
import { rawRequest } from "../../bench/wire.ts";

const LIMIT = 64;
/** Failures in a row: the old waits were 100, 200 ... 3200, 5000 ms. */
const ROUNDS = 7;
/** The listener's wait after each failure (listener.ts's retryMinMs). */
const RETRY_MS = 100;
/** Least time between two `listener accept failed` lines (logIntervalMs). */
const LOG_INTERVAL_MS = 5000;
/** Idle connections at most per round: LIMIT is far fewer. */
const MAX_IDLE = LIMIT * 4;

/**
 * Opens idle connections (each holds one of the child's descriptors) until
 * one is refused or reset: the child's accept failed and its listener
 * closed. Returns them, to be closed. A busy child may take them from the
 * listen backlog long after they connected: past MAX_IDLE, each further
 * connect is closed at once, until one is refused.
 */
async function runOut(child: LimitedChild, round: number) {
  const idle: Deno.Conn[] = [];
  // Generous: a busy machine is slow, never a reason to fail.
  const deadline = performance.now() + 30_000;
  for (;;) {
    assert.ok(
      performance.now() < deadline,
      `round ${round}: accepting never failed in 30 s, ${idle.length} idle connections: ${child.stdout()}`,
    );
    let conn: Deno.Conn;
    try {
      conn = await connectIdle(child.port);
    } catch (error) {
      // A full backlog, not a closed listener.
      if (error instanceof Deno.errors.TimedOut) continue;
      return idle;
    }
    if (idle.length < MAX_IDLE) idle.push(conn);
    else {
      conn.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Milliseconds until `GET /healthz` on a new connection gets an answer. */
async function answeredAfter(port: number, round: number): Promise<number> {
  const since = performance.now();
  const deadline = since + 15_000;
  for (;;) {
    try {
      await rawRequest(
        port,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        { timeoutMs: 5000 },
      );
      return performance.now() - since;
    } catch (error) {
      // Refused while the listener is down.
      assert.ok(
        performance.now() < deadline,
        `round ${round}: /healthz unanswered for 15 s: ${error}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

Deno.test(
  "a listener out of descriptors 7 times in a row listens again after 100 ms each time, not after waits doubling to 5 s",
  async () => {
    await using child = await spawnLimited(LIMIT, await startTaskArgs(), {
      env: { LOG_FORMAT: "text" },
    });
    const since = performance.now();
    const waits: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const idle = await runOut(child, round);
      for (const conn of idle) conn.close();
      waits.push(await answeredAfter(child.port, round));
    }
    const elapsedMs = performance.now() - since;
    const lines = child.stdout().match(/^listener accept failed .*$/gm) ?? [];
    const said = `answered after ${
      waits.map(Math.round).join(", ")
    } ms; the log: ${child.stdout().slice(-2000)}`;
    assert.ok(lines.length >= 1, said);
    // The wait it chose after each logged failure: the old code doubled it
    // for a failure within 5 s of coming back (100, 200 ... 5000).
    for (const line of lines) {
      assert.match(line, new RegExp(` retry_ms=${RETRY_MS}( |$)`), said);
    }
    // One line for a stretch of failures, not one each: at most one per
    // LOG_INTERVAL_MS of the rounds (a slower machine is allowed more).
    const most = 1 + Math.floor(elapsedMs / LOG_INTERVAL_MS);
    assert.ok(
      lines.length <= most,
      `${lines.length} lines in ${Math.round(elapsedMs)} ms; ${said}`,
    );
    assert.ok(!child.exited(), child.stdout().slice(-2000));
  },
);
