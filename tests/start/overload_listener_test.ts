/**
 * The overload watch fails visibly when the listener stays down: `/healthz`
 * 503, then exit 1 for the supervisor. In process, no network.
 */
import assert from "node:assert/strict";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import { createApp } from "../../routes/app.ts";
import { parseConfig } from "../../lib/config.ts";
import { until } from "../_client.ts";

Deno.test("OverloadWatch: a listener down past its bound turns /healthz 503, then exits with 1", async () => {
  const { fetch, services } = createApp(
    parseConfig({ MAX_RSS_BYTES: "0", EVENT_LOOP_STALL_MS: "0" }),
    { log: () => {} },
  );
  const exits: number[] = [];
  /** `performance.now()` at each exit. */
  const exitsAt: number[] = [];
  const watch = new OverloadWatch(services, {
    listenerDownLimitMs: 200,
    failExitDelayMs: 300,
    exit: (code) => {
      exits.push(code);
      exitsAt.push(performance.now());
    },
  });
  try {
    const downSince = performance.now();
    services.listener = {
      accepting: false,
      acceptFailures: 1,
      listenFailures: 0,
      recycles: 0,
      downSince,
    };
    await until(() => services.overload.status === "failing", "failing");
    // The exit is stubbed: /healthz says failing before and after it.
    const response = await fetch(new Request("http://localhost/healthz"));
    assert.equal(response.status, 503);
    assert.equal((await response.json()).status, "failing");
    await until(() => exits.length > 0, "the exit");
    assert.deepEqual(exits, [1]);
    // Not at once: failing after listenerDownLimitMs, the exit
    // failExitDelayMs later (timers round to the millisecond). Before, the
    // test looked for no exit yet after its /healthz request, which a
    // 300 ms stall of the test's loop made fail.
    assert.ok(
      exitsAt[0]! - downSince >= 200 + 300 - 2,
      `the exit ${
        Math.round(exitsAt[0]! - downSince)
      } ms after the listener went down`,
    );
    assert.equal(services.overload.lastIncident?.cause, "listener_down");
    assert.equal(services.metrics.incidents.get("listener_down"), 1);
  } finally {
    watch.dispose();
    services.memory.dispose();
    services.registry.dispose();
  }
});
