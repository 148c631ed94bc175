/**
 * An endless fragmented message in 8 MiB frames, as fast as loopback takes
 * it: Deno's read op can hold the event loop for as long as the frames
 * come, so the overload watch never samples; the RSS watchdog thread
 * (`lib/start/rss_watchdog.ts`) then ends the process before RSS passes
 * MAX_RSS_BYTES plus its margin. On a loaded machine the attacker may be
 * the slower one and the loop turns: the watch recycles. Either way the
 * peak stays under the bound. Real sockets, the start task's flags.
 */
import assert from "node:assert/strict";
import { endlessFragments } from "../../bench/overload_attacks.ts";
import { until } from "../_client.ts";
import { RSS_MARGIN_SHARE } from "../../lib/start/rss_watchdog.ts";
import {
  type LogRecord,
  MAX_RSS,
  MiB,
  RSS_BOUND,
  startAttacked,
} from "./_overload.ts";

/** The process's peak RSS (VmHWM) in bytes, or undefined once it is gone. */
function peak(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return undefined;
  }
}

/** Tries of the attack, each from its own address (no refusal between). */
const TRIES = 3;

Deno.test(
  "fragments that hold the event loop never take RSS past MAX_RSS_BYTES plus the margin: the watch recycles when the loop turns, else the watchdog ends the process (SIGKILL, one log line)",
  async () => {
    await using service = await startAttacked();
    const { child } = service.running;
    let peakBytes = 0;
    const watching = setInterval(() => {
      peakBytes = Math.max(peakBytes, peak(child.pid) ?? 0);
    }, 5);
    let status: Deno.CommandStatus | undefined;
    child.status.then((ended) => status = ended);
    try {
      // The thread starts shortly after start-up (ARM_AFTER_MS).
      let armed = false;
      const polling = setInterval(async () => {
        const health = await fetch(`http://127.0.0.1:${service.port}/healthz`);
        armed = (await health.json()).overload.watchdog === true;
      }, 100);
      try {
        await until(() => armed, "the watchdog thread running");
      } finally {
        clearInterval(polling);
      }
      // Whether Deno lets the loop turn depends on who is faster, the
      // attacker or the collecting: try until the loop is held.
      for (let try_ = 1; try_ <= TRIES && !status; try_++) {
        const result = await endlessFragments(
          service.port,
          `127.0.0.${10 + try_}`,
          4096 * MiB,
          { frameBytes: 8 * MiB },
        );
        assert.equal(result.status, 101);
        assert.ok(result.cut, `try ${try_} is cut before its 4 GiB`);
        await until(
          () => status !== undefined || recycled(service.records) >= try_,
          `try ${try_}'s recycle or the process's end`,
          { timeoutMs: 30_000 },
        );
      }
    } finally {
      clearInterval(watching);
    }
    assert.ok(
      peakBytes < RSS_BOUND,
      `peak RSS ${peakBytes / MiB} MiB, bound ${RSS_BOUND / MiB} MiB`,
    );
    if (!status) {
      // Every try turned the loop: recycled each time, the process alive.
      assert.equal(recycled(service.records), TRIES);
      return;
    }
    assert.equal(status.signal, "SIGKILL", JSON.stringify(status));
    const killed = service.records.filter((record: LogRecord) =>
      record.event === "overload_incident" && record.signal === "SIGKILL"
    );
    assert.equal(killed.length, 1, JSON.stringify(service.records.slice(-5)));
    const line = killed[0]!;
    assert.equal(line.cause, "uncounted_memory");
    // It acted past MAX_RSS_BYTES plus the margin, not before.
    assert.ok(
      Number(line.rssBytes) >= MAX_RSS * (1 + RSS_MARGIN_SHARE),
      JSON.stringify(line),
    );
    assert.ok(Number(line.eventLoopHeldMs) >= 1000, JSON.stringify(line));
  },
);

/** The listener recycles logged so far. */
function recycled(records: LogRecord[]): number {
  return records.filter((record) =>
    record.event === "overload_incident" && record.action === "recycled"
  ).length;
}
