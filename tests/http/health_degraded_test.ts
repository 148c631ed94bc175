/**
 * `/healthz` says `degraded` (still 200) while stall or memory incidents
 * repeat, so a balancer or an operator sees a flood that holds the event
 * loop again and again, though the process answers between the stalls
 * (stranger8 F6/F7). The rule (`lib/overload_pressure.ts`) on a fake clock,
 * then as `/healthz` and `/metrics` show it. No server, no sleeps.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  DEGRADED_INCIDENTS,
  DEGRADED_WINDOW_MS,
  RecentIncidents,
} from "../../lib/overload_pressure.ts";
import { createApp } from "../../routes/app.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

Deno.test("repeated stall or memory incidents make the process degraded for a minute", async (t) => {
  let now = 1_000_000;
  const recent = new RecentIncidents(() => now);

  await t.step("one stall is not degraded", () => {
    recent.record("event_loop_stall");
    assert.equal(recent.degraded(), undefined);
  });
  await t.step(
    "a second within the window is, with the count and the last cause",
    () => {
      now += DEGRADED_WINDOW_MS - 1;
      recent.record("uncounted_memory");
      assert.deepEqual(recent.degraded(), {
        incidents: DEGRADED_INCIDENTS,
        lastCause: "uncounted_memory",
        windowSeconds: DEGRADED_WINDOW_MS / 1000,
      });
    },
  );
  await t.step("other causes do not count", () => {
    recent.record("descriptor_leak");
    recent.record("unanswered_closes");
    assert.equal(recent.degraded()?.incidents, 2);
    assert.equal(recent.degraded()?.lastCause, "uncounted_memory");
  });
  await t.step(
    "once the first leaves the window, one is left: not degraded",
    () => {
      now += 1;
      assert.equal(recent.degraded(), undefined);
    },
  );
  await t.step("a window with none after the last is ok again", () => {
    recent.record("event_loop_stall");
    assert.equal(recent.degraded()?.incidents, 2);
    now += DEGRADED_WINDOW_MS;
    assert.equal(recent.degraded(), undefined);
  });
  await t.step("descriptor leaks alone never degrade", () => {
    const leaks = new RecentIncidents(() => now);
    for (let i = 0; i < 5; i++) leaks.record("descriptor_leak");
    assert.equal(leaks.degraded(), undefined);
  });
});

Deno.test("/healthz says degraded (200) and /metrics ws_echo_degraded 1 after two stalls", async (t) => {
  const { app, services } = createApp(DEFAULT_CONFIG, { log: () => {} });
  const health = async () => {
    const response = await app.request("/healthz");
    return { code: response.status, body: await response.json() };
  };
  const gauge = async () =>
    (await (await app.request("/metrics")).text()).match(
      /^ws_echo_degraded (\d)$/m,
    )?.[1];

  await t.step("before: ok, gauge 0", async () => {
    const { code, body } = await health();
    assert.equal(code, 200);
    assert.equal(body.status, "ok");
    assert.equal(body.degraded, undefined);
    assert.equal(await gauge(), "0");
  });
  await t.step("after one stall: still ok", async () => {
    services.metrics.incident("event_loop_stall");
    assert.equal((await health()).body.status, "ok");
    assert.equal(await gauge(), "0");
  });
  await t.step(
    "after two: degraded, still 200, with count and cause",
    async () => {
      services.metrics.incident("event_loop_stall");
      const { code, body } = await health();
      assert.equal(code, 200);
      assert.equal(body.status, "degraded");
      assert.deepEqual(body.degraded, {
        incidents: 2,
        lastCause: "event_loop_stall",
        windowSeconds: DEGRADED_WINDOW_MS / 1000,
      });
      assert.equal(await gauge(), "1");
    },
  );
});
