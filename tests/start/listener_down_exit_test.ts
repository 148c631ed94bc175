/**
 * A process held at its descriptor limit by something the overload watch
 * cannot free (idle TCP connections that never send a request, with no
 * `ss` on PATH, so the descriptor sweep that aborts them after 10 s cannot
 * run: `lib/start/descriptor_sweep.ts`) re-listens,
 * accepts for a moment, fails again: the 30 s bound on not accepting counts
 * those moments as down, so `/healthz` turns 503 and the process exits with
 * 1 for its supervisor. Before, each short re-listen began the stretch
 * afresh and the exit never came (s20c). Real sockets, `prlimit
 * --nofile=64`, the start task's flags; about 40 s.
 */
import assert from "node:assert/strict";
import { startTaskArgs } from "../_server.ts";
import { connectIdle, spawnLimited } from "../_limited.ts";
import { LISTENER_DOWN_LIMIT_MS } from "../../lib/start/overload_watch_options.ts";

const LIMIT = 64;
/** Idle connections at most: enough to hold LIMIT through every re-listen. */
const MAX_IDLE = LIMIT * 8;
const FAILED = /listener accept failed port=\d+ error="Too many open files/;

Deno.test(
  "a process held at its descriptor limit by idle connections exits with 1 about LISTENER_DOWN_LIMIT_MS after accepting first failed, short re-listens included",
  async () => {
    await using child = await spawnLimited(LIMIT, await startTaskArgs(), {
      env: { LOG_FORMAT: "text" },
    });
    const idle: Deno.Conn[] = [];
    let failedAt: number | undefined;
    // Keep connecting (every re-listen accepts the next one and fails
    // again), bounded in count and time, until the process ends.
    const deadline = performance.now() + LISTENER_DOWN_LIMIT_MS + 30_000;
    try {
      while (!child.exited() && performance.now() < deadline) {
        if (failedAt === undefined && FAILED.test(child.stdout())) {
          failedAt = performance.now();
        }
        if (idle.length < MAX_IDLE) {
          try {
            idle.push(await connectIdle(child.port));
          } catch {
            // Refused or reset while the listener is down: expected.
          }
        }
        // Paced, not synchronised: one connect per 50 ms.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      for (const conn of idle) conn.close();
    }
    assert.ok(failedAt !== undefined, `never failed: ${child.stdout()}`);
    assert.ok(child.exited(), `still running: ${child.stdout().slice(-2000)}`);
    const { code } = await child.status;
    assert.equal(code, 1);
    assert.match(child.stdout(), /overload incident cause=listener_down/);
    // Short re-listens happened, and did not restart the clock.
    assert.match(child.stdout(), /listener accepting port=\d+ after_ms=\d+/);
  },
);
