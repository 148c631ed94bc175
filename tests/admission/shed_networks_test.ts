/**
 * The memory guard admits newcomers from networks its budget has not shed
 * while it waits for the shed to leave (`shed_networks.ts`), with stand-in
 * connections and a fake clock.
 */
import assert from "node:assert/strict";
import {
  type Backlogged,
  MemoryGuard,
  type ShedCause,
} from "../../lib/admission/memory_guard.ts";
import {
  MAX_SHED_NETWORKS,
  SHED_NETWORK_MS,
  ShedNetworks,
} from "../../lib/admission/shed_networks.ts";

const MiB = 1024 * 1024;

/** A connection from `network` holding `bytes`. */
class Holder implements Backlogged {
  shedBy: ShedCause | undefined;
  constructor(readonly bytes: number, readonly network: string) {}
  recount(): number {
    return this.bytes;
  }
  shed(cause: ShedCause): void {
    this.shedBy = cause;
  }
}

Deno.test("MemoryGuard.admitsFrom: while the budget waits for the shed to leave, only networks it shed are refused", async (t) => {
  let now = 0;
  const guard = new MemoryGuard({
    budgetBytes: 10 * MiB,
    maxRssBytes: 0,
    now: () => now,
  });
  try {
    const attacker = "10.1.1.0/24";
    const holders = [4, 4, 3].map((mib) => new Holder(mib * MiB, attacker));
    for (const holder of holders) guard.charge(holder, holder.bytes);
    await t.step("an attacker's network is shed and refused", () => {
      assert.equal(guard.shedding, "memory_budget");
      assert.ok(holders.some((holder) => holder.shedBy === "memory_budget"));
      assert.equal(guard.admitsFrom(attacker), false);
    });
    await t.step("another network is admitted beside it", () => {
      assert.equal(guard.admitsFrom("10.2.2.0/24"), true);
    });
    await t.step(
      "not while what is not being shed is 90% of the budget or more",
      () => {
        const full = new Holder(3 * MiB, "10.9.9.0/24");
        guard.charge(full, full.bytes);
        assert.equal(guard.admitsFrom("10.2.2.0/24"), false);
        guard.charge(full, 0);
        assert.equal(guard.admitsFrom("10.2.2.0/24"), true);
      },
    );
    await t.step(`the mark lasts ${SHED_NETWORK_MS} ms`, () => {
      now += SHED_NETWORK_MS;
      assert.equal(guard.shedding, "memory_budget");
      assert.equal(guard.admitsFrom(attacker), true);
    });
  } finally {
    guard.dispose();
  }
});

Deno.test("MemoryGuard.admitsFrom: never over MAX_RSS_BYTES", () => {
  const guard = new MemoryGuard({
    budgetBytes: 10 * MiB,
    maxRssBytes: 100 * MiB,
    readRss: () => 200 * MiB,
  });
  try {
    guard.sample();
    assert.equal(guard.shedding, "rss");
    assert.equal(guard.admitsFrom("10.2.2.0/24"), false);
  } finally {
    guard.dispose();
  }
});

Deno.test(`ShedNetworks remembers at most ${MAX_SHED_NETWORKS} networks, forgetting the oldest`, () => {
  const networks = new ShedNetworks();
  for (let i = 0; i <= MAX_SHED_NETWORKS; i++) networks.shed(`net${i}`, 0);
  assert.equal(networks.recent("net0", 1), false);
  assert.equal(networks.recent("net1", 1), true);
  assert.equal(networks.recent(`net${MAX_SHED_NETWORKS}`, 1), true);
});
