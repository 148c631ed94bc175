/**
 * A held event loop recycles the listener only for a flood: a connection
 * that brought bytes the app never saw, by the kernel's count. A busy
 * machine (timers late, the little CPU the process gets spent on its own
 * start-up or on messages still arriving) is reported, and every client
 * keeps its connection: at load average 30 the rule recycled a fresh
 * service at 4-5% of a core, and 128 clients half-way through 1 MiB
 * messages (issue #20), closing each client with 1013.
 *
 * The watch here reads a fake CPU clock (the share the process burns) and
 * a fake kernel count, so the detector trips on time on any machine; the
 * client's connection and the 1013 are real.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect, until } from "../_client.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import { NOT_A_FLOOD } from "../../lib/start/incident_suspects.ts";
import { UPGRADES_FLOWED_REASON } from "../../lib/start/incident_actions.ts";
import { peerKey } from "../../lib/start/socket_bytes.ts";
import type { SocketBytesReading } from "../../lib/start/socket_bytes.ts";

const MiB = 1024 * 1024;
/** The detector needs 2 s of samples; a loaded machine delays them. */
const INCIDENT_TIMEOUT_MS = 30_000;

Deno.test("a held loop with no connection past its unseen allowance is reported, not recycled", async (t) => {
  await using server = startTestServer({}, { overloadWatch: false });
  const { services } = server;
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  const connection = services.registry.connections()[0]?.[0];
  const peer = connection?.activity?.().peer;
  assert.ok(peer, "the connection's TCP peer is known");
  // What the kernel says the process read on the client's connection.
  let reading: SocketBytesReading = {
    bytes: new Map([[peerKey(peer.hostname, peer.port), 300]]),
  };
  let recycles = 0;
  // The fake CPU clock burns only while the test waits for an incident:
  // left burning, the detector trips again ~2 s after each incident, and a
  // step slower than that (a busy machine) counted one more.
  let busy = true;
  let cpuMs = 0;
  let cpuReadAt = performance.now();
  const watch = new OverloadWatch(
    { ...services, config: { ...services.config, eventLoopStallMs: 300 } },
    {
      recycle: async (between) => {
        recycles++;
        await between();
        return 0;
      },
      // Busy with nothing flowing: 60% of a core, at a fair share of 2/30
      // (load average 30 on 2 cores).
      readCpuMs: () => {
        const now = performance.now();
        if (busy) cpuMs += (now - cpuReadAt) * 0.6;
        cpuReadAt = now;
        return cpuMs;
      },
      readFairShare: () => 2 / 30,
      socketBytes: {
        read: () => Promise.resolve(reading),
        readSync: () => reading,
      },
    },
  );
  // An incident's line is logged once its action is done.
  const incidents = () =>
    server.records.filter((record) => record.event === "overload_incident");
  const incident = async (count: number) => {
    busy = true;
    await until(
      () => incidents().length >= count,
      `overload incident ${count}`,
      { timeoutMs: INCIDENT_TIMEOUT_MS },
    );
    busy = false;
    assert.equal(incidents().length, count, "one incident at a time");
    return services.overload.lastIncident!;
  };
  /** The incidents by action, as `/healthz` and `/metrics` show them. */
  const actions = async () => {
    const health = await (await fetch(`${server.http}/healthz`)).json();
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    return {
      healthz: health.overload.actions,
      metrics: metrics.split("\n").filter((line) =>
        line.startsWith("ws_echo_overload_actions_total")
      ),
    };
  };
  try {
    await t.step("the kernel counts the handshake only: reported", async () => {
      const record = await incident(1);
      assert.equal(record.cause, "event_loop_stall");
      assert.equal(record.action, "reported");
      assert.equal(record.reason, NOT_A_FLOOD);
      assert.equal(record.kernel, "read 1 sockets");
      assert.deepEqual(record.struck, []);
      assert.equal(recycles, 0);
      assert.equal(socket.readyState, WebSocket.OPEN);
      socket.send("still here");
      assert.equal(await inbox.next(), "still here");
      // What an operator reads: an incident, and that nothing was done.
      assert.deepEqual(await actions(), {
        healthz: { recycled: 0, reported: 1, aborted: 0, exit: 0 },
        metrics: [
          'ws_echo_overload_actions_total{action="recycled"} 0',
          'ws_echo_overload_actions_total{action="reported"} 1',
          'ws_echo_overload_actions_total{action="aborted"} 0',
          'ws_echo_overload_actions_total{action="exit"} 0',
        ],
      });
    });
    await t.step(
      "no kernel count after all (ss granted, not on PATH) while connections are opened: reported",
      async () => {
        reading = { unavailable: "ss: not found" };
        // 50 upgrades a second, as a reset-upgrade attack brings (issue
        // #20): a recycle would close this client and free no descriptor.
        const upgrades = setInterval(() => {
          services.metrics.httpRequests += 5;
        }, 100);
        try {
          const record = await incident(2);
          assert.equal(record.cause, "event_loop_stall");
          assert.equal(record.action, "reported");
          assert.equal(record.reason, UPGRADES_FLOWED_REASON);
          assert.equal(record.kernel, "ss: not found");
        } finally {
          clearInterval(upgrades);
        }
        assert.equal(recycles, 0);
        socket.send("still here");
        assert.equal(await inbox.next(), "still here");
      },
    );
    await t.step(
      "64 MiB the app never saw on it: recycled, and it is struck",
      async () => {
        reading = {
          bytes: new Map([[peerKey(peer.hostname, peer.port), 64 * MiB]]),
        };
        const record = await incident(3);
        assert.equal(record.action, "recycled");
        assert.deepEqual(record.struck, ["127.0.0.1"]);
        assert.equal(recycles, 1);
        assert.equal((await inbox.closed()).code, 1013);
        assert.deepEqual((await actions()).healthz, {
          recycled: 1,
          reported: 2,
          aborted: 0,
          exit: 0,
        });
      },
    );
    await t.step(
      "without the kernel's count the timing rule stands: recycled",
      async () => {
        reading = { unavailable: "ss: not found" };
        const record = await incident(4);
        assert.equal(record.action, "recycled");
        assert.equal(record.kernel, "ss: not found");
        assert.equal(recycles, 2);
      },
    );
  } finally {
    watch.dispose();
    socket.close();
    await server.allClosed();
  }
});
