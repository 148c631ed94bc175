/**
 * Attacks split across many connections so that each stays under its own
 * unseen allowance (issue #20, stranger review: 4 addresses x 32
 * connections x 1.9 MiB of an endless message recycled the listener three
 * times in 4 s, struck nobody, and struck a newcomer instead), attacked for
 * real on loopback against the service as its own process: what an address
 * brought in total is attributed to it, its address is refused on its third
 * try, a reading bystander on another address echoes again within 5 s and is
 * never refused, and a newcomer that connected during the attack and
 * brought nothing is never struck. Where sockets can be destroyed
 * (CAP_NET_ADMIN), the attacking connections are aborted and nothing is
 * recycled: the bystander keeps its connection.
 */
import assert from "node:assert/strict";
import type { BystanderReport } from "../../bench/overload_bystander.ts";
import {
  openFrom,
  splitEmptyFlood,
  splitFragments,
} from "../../bench/overload_attacks.ts";
import {
  ATTACKER,
  attackTwice,
  CAN_ABORT,
  FLOOD_MAX_MS,
  hasSs,
  incidents,
  type LogRecord,
  MiB,
  recycles,
  startAttacked,
} from "./_overload.ts";

/** Connects during each try, says nothing, leaves at once or stays. */
const NEWCOMERS = ["127.0.0.6", "127.0.0.7"];
/** Connections per try: MAX_CONNECTIONS_PER_IP's default. */
const CONNECTIONS = 32;
/** Under one message in flight (1 MiB) plus 1 MiB per connection. */
const PER_CONNECTION = 1.9 * MiB;
/**
 * MAX_RSS_BYTES for the fragments: its early trip (half) lies under what
 * the attack brings the idle service to (about 80 MiB steady).
 */
const SPLIT_MAX_RSS = 144 * MiB;
/** How long a try's connections are held at most, in ms. */
const HOLD_MS = 45_000;

Deno.test({
  name:
    "an endless message split below each connection's allowance: the address is refused on its third try, a newcomer is never struck, the bystander never refused",
  // Without the kernel's count nothing tells the split apart (docs/public-internet.md).
  ignore: !hasSs(),
  async fn() {
    // Half of it is the early trip. The service idles at 60-65 MiB and the
    // 32 x 1.9 MiB (61 MiB) of fragments grow its RSS by 16-33 MiB within a
    // sample or two: at 192 MiB the peak met the line (96.1 of 96 MiB) and
    // the steady state stayed under it, so whether it tripped was luck.
    await using service = await startAttacked({
      MAX_RSS_BYTES: String(SPLIT_MAX_RSS),
    });
    const newcomerStatuses: number[] = [];
    const { third, report } = await attackTwice(service.port, async (try_) => {
      const done = new AbortController();
      const attack = splitFragments(
        service.port,
        [ATTACKER],
        CONNECTIONS,
        PER_CONNECTION,
        { ms: HOLD_MS, signal: done.signal },
      );
      // One leaves right after its upgrade, one stays silent.
      const [leaving, staying] = await Promise.all(
        NEWCOMERS.map((address) => openFrom(service.port, address)),
      );
      newcomerStatuses.push(leaving!.status, staying!.status);
      leaving!.socket.destroy();
      staying!.socket.on("error", () => {});
      try {
        await recycles(service.records, try_, HOLD_MS);
      } finally {
        done.abort();
        staying!.socket.destroy();
      }
      const result = await attack;
      // Where an abort took only the connections past the line at its
      // reading, the rest make the second incident sooner: the address may
      // be refused during its second try.
      const refused = try_ > 1 ? result.statuses.get(429) ?? 0 : 0;
      assert.equal(
        (result.statuses.get(101) ?? 0) + refused,
        CONNECTIONS,
        `try ${try_}: ${JSON.stringify([...result.statuses])}`,
      );
    });
    const found = await recycles(service.records, 2);
    const seen = JSON.stringify([
      ...incidents(service.records, "uncounted_memory"),
      ...incidents(service.records, "event_loop_stall"),
    ]);
    assert.equal(third, 429, seen);
    assert.ok(
      found.every((record) => String(record.struck).includes(ATTACKER)),
      seen,
    );
    assert.equal(found[1]!.refused, `${ATTACKER} 300s`, seen);
    for (const record of found) {
      for (const newcomer of NEWCOMERS) {
        assert.ok(!String(record.struck).includes(newcomer), seen);
      }
    }
    assert.deepEqual(newcomerStatuses, [101, 101, 101, 101]);
    assertAbortedWhereItMay(found, report, seen);
  },
});

/** The empty-frame flooders' /24: a fresh address per connection. */
const FLOOD_NETWORK = "127.63.0";

Deno.test({
  name:
    "empty frames split across fresh connections of one /24: the network is struck (what it brought is remembered across incidents) and refused on the third try, the bystander never",
  ignore: !hasSs(),
  async fn() {
    await using service = await startAttacked();
    let next = 0;
    const address = () => `${FLOOD_NETWORK}.${1 + (next++ % 200)}`;
    const { report } = await attackTwice(service.port, async (try_) => {
      const done = new AbortController();
      const flood = splitEmptyFlood(service.port, address, {
        parallel: 16,
        perConnection: 1.5 * MiB,
        ms: FLOOD_MAX_MS,
        signal: done.signal,
        // At most 16 open: left at once, the kernel's backlog piled up
        // 1,721 connections and 257 MB of RSS at load 7 (the watchdog
        // ends the process at 320 MiB).
        waitForClose: true,
      });
      try {
        await recycles(service.records, try_, FLOOD_MAX_MS + 15_000);
      } finally {
        done.abort();
      }
      const result = await flood;
      assert.ok((result.statuses.get(101) ?? 0) > 0, `try ${try_} upgraded`);
    });
    const found = await recycles(service.records, 2);
    const seen = JSON.stringify(found);
    const third = await openFrom(service.port, `${FLOOD_NETWORK}.250`);
    third.socket.destroy();
    assert.equal(third.status, 429, seen);
    assert.ok(
      found.every((record) =>
        String(record.struck).includes(`${FLOOD_NETWORK}.0/24`)
      ),
      seen,
    );
    assert.equal(found[1]!.refused, `${FLOOD_NETWORK}.0/24 300s`, seen);
    assertAbortedWhereItMay(found, report, seen);
  },
});

/**
 * Where sockets can be destroyed (CAP_NET_ADMIN), the split total names
 * the attack's connections: each incident aborted them, nothing was
 * recycled, and the bystander kept its one connection (no 1013).
 */
function assertAbortedWhereItMay(
  found: LogRecord[],
  report: BystanderReport,
  seen: string,
): void {
  if (!CAN_ABORT) return;
  assert.ok(found.every((record) => record.action === "aborted"), seen);
  assert.equal(report.reconnects, 0, `bystander reconnected: ${seen}`);
  assert.deepEqual([...report.closes], [], `bystander closed: ${seen}`);
}
