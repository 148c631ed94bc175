/**
 * The holes below the app (issue #20), attacked for real on loopback against
 * the service as its own process (`deno task start`'s flags): an endless
 * fragmented message, control-frame floods, upgrades reset by the client, a
 * close the client never answers. Each time the process stays up, within
 * MAX_RSS_BYTES plus its margin (`RSS_BOUND`), a reading bystander on another
 * address echoes again within 5 s, the attacker's address is refused on its
 * third try, and the bystander never is. The attacks are small (a few
 * hundred MiB, seconds) so the suite stays cheap.
 */
import assert from "node:assert/strict";
import {
  type Opened,
  openFrom,
  resetUpgrades,
  unansweredClose,
} from "../../bench/overload_attacks.ts";
import { until } from "../_client.ts";
import { clientFrame } from "../../bench/wire.ts";
import {
  abortedSockets,
  addressesStruck,
  assertIdleReturned,
  ATTACK_BYTES,
  ATTACK_BYTES_PER_SECOND,
  ATTACKER,
  attackTwice,
  BYSTANDER,
  CAN_ABORT,
  floodUntilIncident,
  fragmentsUntilIncident,
  IDLE,
  incidents,
  LISTENER,
  MiB,
  peakRss,
  recycles,
  RSS_BOUND,
  startAttacked,
  startIdleBefore,
} from "./_overload.ts";

Deno.test(
  "an endless fragmented message recycles the listener (or, where sockets can be destroyed, its connection is aborted) within MAX_RSS_BYTES plus the margin; the attacker is refused on its third try, an idle client connected before it never",
  async () => {
    await using service = await startAttacked();
    // Never sends, is sent nothing, reconnects after each recycle.
    await using idle = await startIdleBefore(service.port);
    const { third } = await attackTwice(
      service.port,
      (try_) => fragmentsUntilIncident(service.port, service.records, try_),
    );
    assert.equal(third, 429);
    assert.ok(
      peakRss(service.running) < RSS_BOUND,
      `peak RSS ${peakRss(service.running) / MiB} MiB; ${
        JSON.stringify(incidents(service.records, "uncounted_memory"))
      }`,
    );
    // Collecting fragments holds the loop too: either detector may act first.
    const found = await recycles(service.records, 2);
    assert.equal(found.length, 2, JSON.stringify(found));
    // Where the kernel may destroy sockets the attacker's connection is
    // aborted instead, and the other clients keep theirs.
    const recycled = found.filter((record) => record.action === "recycled");
    assert.ok(
      found.every((record) =>
        record.action === "recycled" || CAN_ABORT && record.action === "aborted"
      ),
      JSON.stringify(found),
    );
    assert.equal(found[1]!.refused, `${ATTACKER} 300s`);
    // The idle client was struck at no incident and reconnected after each
    // recycle.
    assert.ok(found.every((record) => !String(record.struck).includes(IDLE)));
    await assertIdleReturned(idle, recycled.length);
    await until(
      () =>
        service.records.some((record) =>
          record.event === "ws_refused" && record.reason === "suspect" &&
          record.ip === ATTACKER
        ),
      "the refusal's log line",
    );
    const metrics = await (await fetch(
      `http://127.0.0.1:${service.port}/metrics`,
    )).text();
    assert.match(
      metrics,
      new RegExp(`ws_echo_listener_recycles_total ${recycled.length}\n`),
    );
    assert.match(metrics, /ws_echo_suspects_listed_total 1/);
    assert.match(metrics, /ws_echo_refusals_total\{reason="suspect"\} 1/);
  },
);

for (const kind of ["pong", "empty"] as const) {
  Deno.test(
    `a ${kind} flood the app never sees recycles the listener (or its connection is aborted); the bystander echoes again and the flooder is refused on its third try`,
    async () => {
      await using service = await startAttacked();
      // A client that only listens: it never sends a message.
      const listener = await openFrom(service.port, LISTENER, {
        path: "/stream?count=1000&interval=200",
      });
      listener.socket.resume();
      const { third } = await attackTwice(
        service.port,
        (try_) =>
          floodUntilIncident(service.port, service.records, try_, { kind }),
      );
      listener.socket.destroy();
      const found = await recycles(service.records, 2);
      assert.equal(third, 429, JSON.stringify(found));
      assert.ok(
        peakRss(service.running) < RSS_BOUND,
        `peak RSS ${peakRss(service.running) / MiB} MiB; ${
          JSON.stringify(found)
        }`,
      );
      // At least one per try. Under load a try can make a second incident
      // (3 for 2 tries in 2 of 7 runs at load ~17, s22): a recycle costs the
      // clients a reconnect, and who is struck is what this test is about.
      // Either detector's: under load a pong flood can grow RSS
      // past the early trip before the loop counts as stalled (both of one
      // run's incidents were uncounted_memory, the flooder struck with 664
      // MB unseen, load ~20; v20b saw it once too), as for the fragments.
      assert.ok(found.length >= 2, JSON.stringify(found));
      // Only the flooder, at every incident: not the bystander, nor the
      // /stream listener that was connected at the first incident.
      for (const record of found) {
        assert.ok(
          [ATTACKER, undefined].includes(addressesStruck(record)),
          JSON.stringify(record),
        );
      }
      assert.equal(addressesStruck(found[0]!), ATTACKER, JSON.stringify(found));
    },
  );
}

Deno.test(
  "upgrades reset by the client are counted as leaked descriptors, and the address is refused on its third try",
  async () => {
    await using service = await startAttacked();
    const { third } = await attackTwice(service.port, async (try_) => {
      const before = incidents(service.records, "descriptor_leak").length;
      // Bursts until the watch counts an incident (a third of resets leak).
      for (let burst = 0; burst < 20; burst++) {
        await resetUpgrades(service.port, ATTACKER, 40);
        const seen = performance.now() + 3500;
        while (performance.now() < seen) {
          if (incidents(service.records, "descriptor_leak").length > before) {
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      assert.fail(`no descriptor_leak incident for try ${try_}`);
    });
    assert.equal(third, 429);
    assert.ok(
      peakRss(service.running) < RSS_BOUND,
      `peak RSS ${peakRss(service.running) / MiB} MiB`,
    );
    const health = await (await fetch(
      `http://127.0.0.1:${service.port}/healthz`,
    )).json();
    assert.ok(health.overload.leakedUpgrades >= 32);
    assert.equal(health.overload.suspects.refused, 1);
    // /healthz is public: the incident's addresses are counted, not listed.
    assert.equal(typeof health.overload.lastIncident.struck, "number");
    assert.equal(typeof health.overload.lastIncident.refused, "number");
    assert.doesNotMatch(JSON.stringify(health), new RegExp(ATTACKER));
  },
);

Deno.test(
  {
    name:
      "a close the client never answers is given up after CLOSE_TIMEOUT_SECONDS, and its fragments are freed by a recycle",
    // Where the kernel may destroy sockets it is aborted instead: this
    // runs the service without that capability.
  },
  async () => {
    await using service = await startAttacked({ CLOSE_TIMEOUT_SECONDS: "1" }, {
      withoutAbort: true,
    });
    const { third } = await attackTwice(service.port, async (try_) => {
      // The fragments start once the close has timed out (1 s): a recycle
      // before that would end the close itself.
      const result = await unansweredClose(
        service.port,
        ATTACKER,
        ATTACK_BYTES,
        { bytesPerSecond: ATTACK_BYTES_PER_SECOND, pauseMs: 1500 },
      );
      assert.equal(result.status, 101, `try ${try_} is upgraded`);
      assert.ok(result.cut, `try ${try_} is cut before its budget`);
      await recycles(service.records, try_);
    });
    assert.equal(third, 429);
    assert.ok(
      peakRss(service.running) < RSS_BOUND,
      `peak RSS ${peakRss(service.running) / MiB} MiB; ${
        JSON.stringify(incidents(service.records, "uncounted_memory"))
      }`,
    );
    const found = await recycles(service.records, 2);
    assert.equal(found.length, 2, JSON.stringify(found));
    await until(
      () =>
        service.records.some((record) =>
          record.event === "ws_close" && record.ip === ATTACKER &&
          record.code === 1006 &&
          String(record.reason).startsWith("close timeout")
        ),
      "the unanswered close logged as given up",
    );
  },
);

/**
 * Opens 16 connections from ATTACKER that each send Goodbye, which makes
 * the server close, and never answer the close; pushes each on `held` as it
 * opens (the caller destroys them).
 */
async function closesNeverAnswered(port: number, held: Opened[]) {
  const goodbye = clientFrame(0x1, new TextEncoder().encode("Goodbye"));
  for (let i = 0; i < 16; i++) {
    const opened = await openFrom(port, ATTACKER);
    assert.equal(opened.status, 101);
    opened.socket.resume();
    // An aborted socket's reset.
    opened.socket.on("error", () => {});
    opened.socket.write(goodbye);
    held.push(opened);
  }
}

/**
 * Waits (10 s) until /healthz counts no given-up close holding a slot, then
 * checks that a visitor from BYSTANDER upgrades.
 */
async function slotsFreed(port: number) {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`))
      .json();
    if (health.overload.unansweredCloses === 0) break;
    assert.ok(
      performance.now() < deadline,
      `still ${health.overload.unansweredCloses} given-up closes holding slots`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const visitor = await openFrom(port, BYSTANDER);
  visitor.socket.destroy();
  assert.equal(visitor.status, 101);
}

Deno.test(
  {
    name:
      "closes never answered that fill a tenth of the slots recycle the listener, which frees them, and strike their address",
    // Where the kernel may destroy sockets they are aborted instead: this
    // runs the service without that capability.
  },
  async () => {
    // A tenth of 40 is under LEAK_TRIP: 16 trip.
    await using service = await startAttacked({
      CLOSE_TIMEOUT_SECONDS: "1",
      MAX_CONNECTIONS: "40",
    }, { withoutAbort: true });
    const held: Opened[] = [];
    try {
      await closesNeverAnswered(service.port, held);
      await until(
        () => incidents(service.records, "unanswered_closes").length > 0,
        "an unanswered_closes incident",
        { timeoutMs: 15_000 },
      );
      const [incident] = incidents(service.records, "unanswered_closes");
      assert.equal(incident!.action, "recycled");
      assert.equal(incident!.struck, ATTACKER);
      // The recycle's line is logged once the old connections are gone.
      await slotsFreed(service.port);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
  },
);

Deno.test(
  {
    name:
      "closes never answered are aborted once given up, which frees their slots with no recycle",
    ignore: !CAN_ABORT,
  },
  async () => {
    await using service = await startAttacked({
      CLOSE_TIMEOUT_SECONDS: "1",
      MAX_CONNECTIONS: "40",
    });
    const held: Opened[] = [];
    try {
      await closesNeverAnswered(service.port, held);
      await until(
        () => held.every(({ socket }) => socket.destroyed),
        "every client's connection aborted (a reset)",
        { timeoutMs: 30_000 },
      );
      // The log line follows the aborts.
      await until(
        () => abortedSockets(service.records) >= 16,
        "16 sockets_aborted",
        { timeoutMs: 10_000 },
      );
      await slotsFreed(service.port);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
    const recycled = service.records.filter((record) =>
      record.event === "overload_incident" && record.action === "recycled"
    );
    assert.deepEqual(recycled, [], "no recycle");
  },
);
