/**
 * The registry remembers a client's shared message allowance after its last
 * connection closes, for as long as the allowance takes to refill, and then
 * forgets it, without a timer per client; descriptors leaked by upgrades
 * count against the total cap for good.
 */
import assert from "node:assert/strict";
import {
  ALL_STREAMS_SHARE,
  ConnectionRegistry,
  type Lease,
} from "../../lib/admission/slots.ts";
import { capacityRefusal } from "../../lib/admission/admit.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

/** Admits `key`, failing the test if a cap refuses it. */
function admit(registry: ConnectionRegistry, key: string): Lease {
  const lease = registry.admit(key);
  assert.equal(typeof lease, "object", `${key} was refused: ${lease}`);
  return lease as Lease;
}

/** Returns once the clock has passed `ms` from now (deadline: 10 s). */
async function clockPasses(ms: number): Promise<void> {
  const until = Date.now() + ms;
  const deadline = performance.now() + 10_000;
  while (Date.now() <= until) {
    if (performance.now() > deadline) throw new Error("The clock stood still");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

Deno.test("a client that reconnects before its allowance refilled gets the same allowance back", () => {
  // 1,000 messages of burst at 1 per second: remembered for 1,000 s.
  const registry = new ConnectionRegistry({
    maxPerIp: 0,
    maxTotal: 0,
    clientMessageRate: { perSecond: 1, burst: 1000 },
  });
  const first = admit(registry, "192.0.2.1");
  const allowance = first.clientMessageRate;
  assert.ok(allowance, "the per-client rate is on");
  first.release();
  const again = admit(registry, "192.0.2.1");
  assert.equal(again.clientMessageRate, allowance);
  again.release();
  registry.dispose();
});

Deno.test("a client is forgotten once its allowance has refilled, and starts afresh", async (t) => {
  // A burst of 1 at 1,000 per second refills in 1 ms.
  const registry = new ConnectionRegistry({
    maxPerIp: 0,
    maxTotal: 0,
    clientMessageRate: { perSecond: 1000, burst: 1 },
  });
  await t.step(
    "after the refill, the next admission gets a new allowance",
    async () => {
      const first = admit(registry, "192.0.2.1");
      const allowance = first.clientMessageRate;
      first.release();
      await clockPasses(2);
      const again = admit(registry, "192.0.2.1");
      assert.notEqual(again.clientMessageRate, allowance);
      again.release();
    },
  );
  await t.step("a client holding a slot is never forgotten", async () => {
    const held = admit(registry, "192.0.2.2");
    const other = admit(registry, "192.0.2.2");
    other.release();
    await clockPasses(2);
    // Another client's admission trims the queue of the forgettable.
    admit(registry, "192.0.2.3").release();
    const third = admit(registry, "192.0.2.2");
    assert.equal(third.clientMessageRate, held.clientMessageRate);
    assert.equal(registry.countFor("192.0.2.2"), 2);
    held.release();
    third.release();
  });
  await t.step(
    "a client that left, came back and left again is remembered from its last leave",
    async () => {
      const first = admit(registry, "192.0.2.4");
      first.release();
      const back = admit(registry, "192.0.2.4");
      const allowance = back.clientMessageRate;
      await clockPasses(2);
      // The first leave's deadline has passed, but the client is back: kept.
      admit(registry, "192.0.2.5").release();
      const last = admit(registry, "192.0.2.4");
      assert.equal(last.clientMessageRate, allowance);
      assert.equal(registry.countFor("192.0.2.4"), 2);
      back.release();
      last.release();
    },
  );
  registry.dispose();
});

Deno.test("every client's /stream bytes together get ALL_STREAMS_SHARE times one client's rate, each message charged its frame", async (t) => {
  const registry = new ConnectionRegistry({
    maxPerIp: 0,
    maxTotal: 0,
    clientStreamBytes: { perSecond: 1000, burst: 1000, frameBytes: 10 },
  });
  const streams = (keys: string[]) =>
    keys.map((key) => {
      const rate = admit(registry, key).clientStreamBytes();
      assert.ok(rate);
      return rate;
    });
  const now = Date.now();
  await t.step(
    "a client's streams share its own rate, whatever the others do",
    () => {
      const [first, second] = streams(["127.0.30.1", "127.0.30.1"]);
      assert.equal(first!.take(990, now), true);
      assert.ok(second!.waitMs(990, now) > 0, "the same client's budget");
    },
  );
  await t.step(
    "clients rotating addresses spend one budget: the next waits",
    () => {
      const rotating = streams(
        Array.from(
          { length: ALL_STREAMS_SHARE },
          (_, i) => `127.0.31.${i + 1}`,
        ),
      );
      // The first client's 990 + 10 spent a quarter already.
      for (const [i, rate] of rotating.entries()) {
        const fits = i < ALL_STREAMS_SHARE - 1;
        assert.equal(rate.take(990, now), fits, `client ${i + 1}`);
      }
      // One message's worth at the shared rate of 4,000 a second.
      assert.ok(rotating.at(-1)!.waitMs(990, now) >= 200);
    },
  );
  registry.dispose();
});

Deno.test("an upgrade counted as leaked lets go of its slot, and its descriptor counts against MAX_CONNECTIONS for good", async (t) => {
  const config = { ...DEFAULT_CONFIG, maxConnections: 3 };
  const registry = new ConnectionRegistry({ maxPerIp: 0, maxTotal: 3 });
  const open = admit(registry, "192.0.2.1");
  open.track({ close() {} });
  const reset = admit(registry, "198.51.100.7");
  let finished = 0;
  const upgrade = {
    close() {},
    leaked() {
      finished++;
      reset.release();
    },
  };
  reset.track(upgrade);

  await t.step("the leaked upgrade is finished and its slot let go", () => {
    registry.leak(upgrade);
    assert.equal(finished, 1);
    assert.equal(registry.total, 1);
    assert.equal(registry.openCount, 1);
    assert.equal(registry.leaked, 1);
  });

  await t.step(
    "its descriptor still counts: one newcomer fits, not two",
    () => {
      admit(registry, "203.0.113.1");
      assert.equal(registry.noSlotFor("203.0.113.2"), "total");
      assert.equal(registry.admit("203.0.113.2"), "total");
    },
  );

  await t.step("the 503 says what holds the cap", () => {
    const refused = capacityRefusal("total", "203.0.113.2", {
      config,
      registry,
    });
    assert.equal(refused.status, 503);
    assert.equal(
      refused.body,
      "Server full: 2 connections open and 1 descriptors leaked by upgrades their clients reset, of 3 allowed (a restart frees the leaked ones). Retry later\n",
    );
  });

  await t.step(
    "a connection closing frees a slot; the leaked one never does",
    () => {
      open.release();
      admit(registry, "203.0.113.2");
      assert.equal(registry.noSlotFor("203.0.113.3"), "total");
    },
  );
  registry.dispose();
});

Deno.test("a slot held after a slow reader's close leaves the total once its socket is gone, and stays its client's until the hold ends", async (t) => {
  const config = { ...DEFAULT_CONFIG, maxConnections: 2 };
  const registry = new ConnectionRegistry({ maxPerIp: 1, maxTotal: 2 });
  const services = { config, registry };
  const slow = admit(registry, "192.0.2.1");
  admit(registry, "192.0.2.2");
  slow.holdFor(60_000);

  await t.step("closed but its socket maybe there: it counts, as held", () => {
    slow.release();
    assert.equal(registry.total, 2);
    assert.equal(registry.heldOpen, 1);
    assert.equal(registry.noSlotFor("203.0.113.1"), "total");
    assert.equal(
      capacityRefusal("total", "203.0.113.1", services).body,
      "Server full: 1 connections open, 1 slots held for closed slow readers whose sockets are not yet gone, of 2 allowed. Retry later\n",
    );
  });

  await t.step(
    "its socket gone: a newcomer fits, its own address does not",
    () => {
      slow.socketGone();
      slow.socketGone();
      assert.equal(registry.total, 1);
      assert.equal(registry.heldOpen, 0);
      assert.equal(registry.heldGone, 1);
      assert.equal(registry.countFor("192.0.2.1"), 1);
      assert.equal(registry.noSlotFor("192.0.2.1"), "per_ip");
      admit(registry, "203.0.113.1");
      assert.equal(registry.noSlotFor("203.0.113.2"), "total");
    },
  );

  await t.step("known gone before the close: counted until released", () => {
    const other = new ConnectionRegistry({ maxPerIp: 1, maxTotal: 1 });
    const lease = admit(other, "192.0.2.9");
    lease.holdFor(60_000);
    lease.socketGone();
    assert.equal(other.total, 1, "still open");
    lease.release();
    lease.release();
    assert.deepEqual([other.total, other.heldGone], [0, 1]);
    assert.equal(other.noSlotFor("203.0.113.9"), undefined);
    other.dispose();
    assert.deepEqual([other.heldGone, other.countFor("192.0.2.9")], [0, 0]);
  });

  await t.step("the hold ends: the client's slot is freed once", () => {
    registry.dispose();
    assert.equal(registry.heldGone, 0);
    assert.equal(registry.countFor("192.0.2.1"), 0);
    assert.equal(registry.total, 2);
  });
});
