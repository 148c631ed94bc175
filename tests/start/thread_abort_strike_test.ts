/**
 * A watchdog thread's abort reported after the overload watch struck for
 * the same held stretch (`incident_actions.ts` `threadAborted`): one
 * strike, while a connection opened after that strike is a new try.
 */
import assert from "node:assert/strict";
import { SuspectList } from "../../lib/admission/suspects.ts";
import { IncidentActions } from "../../lib/start/incident_actions.ts";
import type { ThreadAbort } from "../../lib/start/watchdog_orders.ts";

const ATTACKER = "127.0.0.2";

/** Incident actions over `suspects`, with one open connection per entry. */
function actionsOver(
  suspects: SuspectList,
  open: Array<{ port: number; startedAt: number }>,
): IncidentActions {
  const connections = open.map(({ port, startedAt }) =>
    [
      {
        activity: () => ({
          startedAt,
          peer: { transport: "tcp", hostname: ATTACKER, port },
        }),
      },
      ATTACKER,
    ] as const
  );
  const services = {
    registry: { connections: () => connections },
    config: { trustProxy: 0, ipv6PrefixLength: 64 },
    suspects,
    metrics: {
      suspectsListed: 0,
      incident() {},
      incidentActed() {},
    },
    overload: { incidents: 0 },
    memory: { state: () => ({ usedBytes: 0 }) },
    log() {},
  };
  const watch = {
    signals: { cpuShare: undefined, reset() {} },
    readers: {},
    last: () => undefined,
    settledAt: () => 0,
    options: {},
  };
  return new IncidentActions(
    services as unknown as ConstructorParameters<typeof IncidentActions>[0],
    watch as unknown as ConstructorParameters<typeof IncidentActions>[1],
  );
}

/**
 * The thread's message: it aborted `port` after a hold of `heldMs` (2 s),
 * which began then (ms since epoch).
 */
function heldAbort(
  port: number,
  heldMs = 2000,
  heldSince = Date.now() - heldMs,
): ThreadAbort {
  return {
    cause: "event_loop_stall",
    peers: [{ hostname: ATTACKER, port }],
    readBytes: [11_000_000],
    rssBytes: 0,
    heldMs,
    heldSince,
  };
}

Deno.test("threadAborted() strikes a try the watch struck for the same held stretch once", async (t) => {
  await t.step(
    "the thread's message after the watch's strike: strikes 1",
    async () => {
      const suspects = new SuspectList();
      const actions = actionsOver(suspects, [
        { port: 5000, startedAt: Date.now() - 3000 },
      ]);
      // The watch, when the held loop turned, struck the attacker.
      suspects.strike([ATTACKER]);
      // In-process: the kernel's count is not read (an incident of its
      // own); the thread's keys are struck before that either way.
      actions.acting = true;
      await actions.threadAborted(heldAbort(5000));
      assert.equal(suspects.refusedFor(ATTACKER), 0, "refused after one try");
      // Its next incident is its second strike.
      const [next] = suspects.strike([ATTACKER], Date.now() + 60_000);
      assert.equal(next!.refusedForSeconds, 300);
    },
  );
  await t.step(
    "a connection opened after the watch's strike is the next try: refused",
    async () => {
      const suspects = new SuspectList();
      suspects.strike([ATTACKER]);
      const actions = actionsOver(suspects, [
        { port: 5001, startedAt: Date.now() + 1 },
      ]);
      actions.acting = true;
      await actions.threadAborted(heldAbort(5001));
      assert.equal(suspects.refusedFor(ATTACKER), 300);
    },
  );
  await t.step(
    "the aborted connection gone and the client back on a new one: strikes 1",
    async () => {
      const suspects = new SuspectList();
      suspects.strike([ATTACKER]);
      // Only the client's next connection is open: it is not the one the
      // thread aborted, so it does not make this report a new try.
      const actions = actionsOver(suspects, [
        { port: 5003, startedAt: Date.now() + 1 },
      ]);
      actions.acting = true;
      await actions.threadAborted(heldAbort(5002));
      assert.equal(suspects.refusedFor(ATTACKER), 0, "refused after one try");
    },
  );
  await t.step(
    "a try cut 0.8 s after the last, its connection gone: its second strike",
    async () => {
      // A quiet machine: the attacker is back within 0.1 s of its first
      // cut, and its next connection is aborted 0.8 s later, after a hold
      // of 0.3 s; the connection has left the registry by the time the
      // thread's message is read (fragments under `deno task start`, four
      // attackers, load 0.7: one attacker's second try counted nothing).
      const suspects = new SuspectList();
      const now = Date.now();
      suspects.strike([ATTACKER], now - 800);
      const actions = actionsOver(suspects, []);
      actions.acting = true;
      await actions.threadAborted(heldAbort(5004, 300, now - 300));
      assert.equal(suspects.refusedFor(ATTACKER), 300);
    },
  );
  await t.step(
    "a connection only swept: struck when its address was struck before",
    async () => {
      // Four attackers' endless fragments: the thread named some and swept
      // the rest (holding unseen bytes, no complete message, not read from
      // enough to be named). An attacker taken by the sweep alone at its
      // second and third tries was never listed.
      const suspects = new SuspectList();
      const now = Date.now();
      suspects.strike([ATTACKER], now - 800);
      const actions = actionsOver(suspects, [
        { port: 5005, startedAt: now - 700 },
      ]);
      actions.acting = true;
      await actions.threadAborted({
        cause: "uncounted_memory",
        peers: [],
        readBytes: [],
        swept: [{ hostname: ATTACKER, port: 5005 }],
        rssBytes: 0,
        heldMs: 300,
        heldSince: now - 300,
      });
      assert.equal(suspects.refusedFor(ATTACKER), 300);
    },
  );
  await t.step(
    "a connection only swept, its address never struck: not struck",
    async () => {
      // It may be an honest client's first message in flight.
      const suspects = new SuspectList();
      const now = Date.now();
      const actions = actionsOver(suspects, [
        { port: 5006, startedAt: now - 700 },
      ]);
      actions.acting = true;
      await actions.threadAborted({
        cause: "uncounted_memory",
        peers: [],
        readBytes: [],
        swept: [{ hostname: ATTACKER, port: 5006 }],
        rssBytes: 0,
        heldMs: 300,
        heldSince: now - 300,
      });
      assert.equal(suspects.struckBefore(ATTACKER), false);
    },
  );
});
