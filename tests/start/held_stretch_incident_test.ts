/**
 * One held stretch of the loop, one incident (`lib/start/thread_joins.ts`):
 * the watchdog thread's abort of the stretch the overload watch is acting
 * on is joined to the watch's incident, not logged and counted as one of
 * its own, and the watch's report waits for an abort the thread began. The
 * attacker is struck once for it.
 */
import assert from "node:assert/strict";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { IncidentActions } from "../../lib/start/incident_actions.ts";
import type { ThreadAbort } from "../../lib/start/watchdog_orders.ts";
import type { LogRecord } from "../../lib/log.ts";
import { until } from "../_client.ts";

const ATTACKER = "127.0.0.2";

/**
 * Incident actions with no open connection and no kernel count, which
 * recycle (the fake `recycle` resolves when `release` is called), beside a
 * thread whose state the test sets; what they log.
 */
function setUp(thread: { aborting: boolean; aborts: number }) {
  const suspects = new SuspectList();
  const lines: LogRecord[] = [];
  const services = {
    registry: { connections: () => [], closeEvery: () => 0 },
    config: {
      trustProxy: 0,
      ipv6PrefixLength: 64,
      maxRssBytes: 0,
      maxMessageBytes: 1 << 20,
    },
    suspects,
    metrics: {
      suspectsListed: 0,
      recycleCloses: 0,
      recycles: 0,
      incident() {},
      incidentActed() {},
    },
    overload: { incidents: 0, status: "ok", lastIncident: null },
    memory: { state: () => ({ usedBytes: 0 }), sample() {} },
    log: (record: LogRecord) => lines.push(record),
  };
  const released = Promise.withResolvers<void>();
  const watch = {
    signals: {
      cpuShare: undefined,
      calmSince: 0,
      troubleSince: 0,
      reset() {},
      countUpgrades: () => false,
    },
    readers: { readRss: () => 0 },
    last: () => undefined,
    settledAt: () => 0,
    thread: {
      aborting: () => thread.aborting,
      aborts: () => thread.aborts,
    },
    options: {
      recycle: async () => {
        await released.promise;
        return 1;
      },
      // A busy machine's pause must not split the incident here.
      threadJoinMs: 60_000,
    },
  };
  const actions = new IncidentActions(
    services as unknown as ConstructorParameters<typeof IncidentActions>[0],
    watch as unknown as ConstructorParameters<typeof IncidentActions>[1],
  );
  const incidents = () =>
    lines.filter((line) => line.event === "overload_incident");
  return { actions, suspects, services, incidents, release: released.resolve };
}

/** The thread's message: it aborted the attacker's connection on a held loop. */
function heldAbort(): ThreadAbort {
  return {
    cause: "event_loop_stall",
    peers: [{ hostname: ATTACKER, port: 5000 }],
    readBytes: [11_000_000],
    rssBytes: 0,
    heldMs: 2100,
    heldSince: Date.now() - 2100,
  };
}

Deno.test("a held stretch the watch and the watchdog thread both act on is one incident", async (t) => {
  await t.step(
    "the thread's message comes while the watch's incident is under way",
    async () => {
      const thread = { aborting: false, aborts: 0 };
      const { actions, suspects, services, incidents, release } = setUp(
        thread,
      );
      const incident = actions.recycleFor("event_loop_stall");
      thread.aborts = 1;
      await actions.threadAborted(heldAbort());
      release();
      await incident;
      assert.equal(incidents().length, 1, JSON.stringify(incidents()));
      assert.equal(services.overload.incidents, 1);
      const [line] = incidents();
      assert.equal(line!.aborted, 1);
      assert.equal(line!.struck, `${ATTACKER},127.0.0.0/24`);
      // Struck once: its next incident lists it.
      assert.equal(suspects.refusedFor(ATTACKER), 0);
      const [next] = suspects.strike([ATTACKER], Date.now() + 60_000);
      assert.equal(next!.refusedForSeconds, 300);
    },
  );
  await t.step(
    "the thread still aborting when the watch would report: its abort joins",
    async () => {
      const thread = { aborting: true, aborts: 0 };
      const { actions, services, incidents, release } = setUp(thread);
      release();
      const incident = actions.recycleFor("event_loop_stall");
      // The recycle is done; the report waits for the thread.
      await until(
        () => services.metrics.recycles === 1,
        "the recycle",
      );
      thread.aborts = 1;
      thread.aborting = false;
      await actions.threadAborted(heldAbort());
      await incident;
      assert.equal(incidents().length, 1, JSON.stringify(incidents()));
      assert.equal(services.overload.incidents, 1);
      assert.equal(incidents()[0]!.action, "recycled");
      assert.equal(incidents()[0]!.aborted, 1);
    },
  );
});
