/** The memory guard's rules, with stand-in connections and a fake RSS. */
import assert from "node:assert/strict";
import {
  type Backlogged,
  CLOSING_WAIT_MS,
  MemoryGuard,
  RECOUNT_MS,
  RESUME_BELOW,
  RSS_SETTLE_SAMPLES,
  type ShedCause,
} from "../../lib/admission/memory_guard.ts";
import {
  BroadcastMemoryPeers,
  type MemoryPeers,
} from "../../lib/admission/memory_peers.ts";
import { until } from "../_client.ts";

const MiB = 1024 * 1024;

/** A connection that holds `bytes` until the test changes it. */
class Holder implements Backlogged {
  bytes: number;
  shedBy: ShedCause | undefined;
  constructor(bytes: number) {
    this.bytes = bytes;
  }
  recount(): number {
    return this.bytes;
  }
  shed(cause: ShedCause): void {
    this.shedBy = cause;
  }
}

Deno.test("MemoryGuard sheds the largest holders first when the budget is passed", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0 }),
  );
  const small = new Holder(1 * MiB);
  const medium = new Holder(3 * MiB);
  const large = new Holder(5 * MiB);
  for (const holder of [small, medium, large]) {
    guard.charge(holder, holder.bytes);
  }
  assert.equal(guard.shedding, undefined, "9 MiB fits a 10 MiB budget");
  const newcomer = new Holder(2 * MiB);
  guard.charge(newcomer, newcomer.bytes);
  assert.equal(guard.shedding, "memory_budget", "11 MiB does not");
  // Within the charge that passed the budget: a room's fan-out charges many
  // receivers before any timer could run. One pass sheds all it sheds.
  assert.equal(large.shedBy, "memory_budget", "the largest goes first");
  assert.equal(small.shedBy, undefined);
  assert.equal(newcomer.shedBy, undefined, "until the rest fits in 75%");
  assert.equal(medium.shedBy, undefined);
  assert.deepEqual(guard.state().shed, { memory_budget: 1, rss: 0 });
});

Deno.test("MemoryGuard sheds holders whose clients do not read before larger ones whose clients do", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0 }),
  );
  const reader = Object.assign(new Holder(6 * MiB), { reading: true });
  const nonReader = Object.assign(new Holder(4 * MiB), { reading: false });
  guard.charge(reader, reader.bytes);
  guard.charge(nonReader, nonReader.bytes);
  guard.charge(new Holder(1 * MiB), 1 * MiB);
  assert.equal(guard.shedding, "memory_budget", "11 MiB passes the budget");
  assert.equal(nonReader.shedBy, "memory_budget", "the non-reader goes");
  assert.equal(reader.shedBy, undefined, "the larger reader stays");
});

Deno.test("MemoryGuard admits again only below 90% of the budget", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0 }),
  );
  const holder = new Holder(0);
  guard.charge(holder, 11 * MiB);
  assert.equal(guard.shedding, "memory_budget");
  guard.charge(holder, 9.5 * MiB);
  assert.equal(guard.shedding, "memory_budget", "95% is still too close");
  guard.charge(holder, 10 * MiB * RESUME_BELOW - 1);
  assert.equal(guard.shedding, undefined);
  guard.charge(holder, 0);
  assert.equal(guard.state().usedBytes, 0, "0 forgets a connection");
});

Deno.test("MemoryGuard.sample() re-reads every holder, so one that caught up stops counting", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 100 * MiB, maxRssBytes: 0 }),
  );
  const holder = new Holder(8 * MiB);
  guard.charge(holder, holder.bytes);
  holder.bytes = 0;
  guard.sample();
  assert.equal(guard.state().usedBytes, 0);
});

Deno.test("MemoryGuard watches RSS independently of the budget", async (t) => {
  let rss = 100 * MiB;
  using guard = disposable(
    new MemoryGuard({
      budgetBytes: 0,
      maxRssBytes: 200 * MiB,
      readRss: () => rss,
    }),
  );
  const holders = [new Holder(4 * MiB), new Holder(2 * MiB), new Holder(MiB)];
  for (const holder of holders) guard.charge(holder, holder.bytes);
  await t.step("under the limit nothing happens", () => {
    guard.sample();
    assert.equal(guard.shedding, undefined);
  });
  await t.step(
    "over it, upgrades are refused and the largest half is shed",
    () => {
      rss = 250 * MiB;
      guard.sample();
      assert.equal(guard.shedding, "rss");
      assert.equal(guard.state().rssBytes, 250 * MiB);
      assert.deepEqual(holders.map((h) => h.shedBy), [
        "rss",
        undefined,
        undefined,
      ]);
    },
  );
  await t.step("between 90% and the limit it keeps refusing", () => {
    rss = 190 * MiB;
    guard.sample();
    assert.equal(guard.shedding, "rss");
  });
  await t.step("below 90% it admits again", () => {
    rss = 170 * MiB;
    guard.sample();
    assert.equal(guard.shedding, undefined);
  });
});

/** Disposes the guard's timer at the end of the test. */
function disposable(guard: MemoryGuard): MemoryGuard & Disposable {
  return Object.assign(guard, { [Symbol.dispose]: () => guard.dispose() });
}

Deno.test("MemoryGuard admits again when RSS stays high with nothing held: memory the allocator kept after a flood", async (t) => {
  let rss = 420 * MiB;
  using guard = disposable(
    new MemoryGuard({
      budgetBytes: 0,
      maxRssBytes: 400 * MiB,
      readRss: () => rss,
    }),
  );
  await t.step("over the limit it refuses", () => {
    guard.sample();
    assert.equal(guard.shedding, "rss");
  });
  await t.step(
    `steady and with nothing held for ${RSS_SETTLE_SAMPLES} samples in all, it admits`,
    () => {
      // The sample that tripped it was the first steady one.
      for (let i = 0; i < RSS_SETTLE_SAMPLES - 2; i++) {
        guard.sample();
        assert.equal(guard.shedding, "rss", `sample ${i + 2}`);
      }
      guard.sample();
      assert.equal(guard.shedding, undefined);
    },
  );
  await t.step("growth of more than 5% past that level trips it again", () => {
    rss = 425 * MiB;
    guard.sample();
    assert.equal(guard.shedding, undefined, "within 5%");
    rss = 450 * MiB;
    guard.sample();
    assert.equal(guard.shedding, "rss");
  });
  await t.step("a connection holding memory keeps it refusing", () => {
    const holder = new Holder(MiB);
    guard.charge(holder, holder.bytes);
    for (let i = 0; i < RSS_SETTLE_SAMPLES + 2; i++) guard.sample();
    assert.equal(guard.shedding, "rss");
    guard.charge(holder, 0);
  });
  await t.step("a failed read (0) keeps the last sample", () => {
    rss = 0;
    guard.sample();
    assert.equal(guard.state().rssBytes, 450 * MiB);
  });
});

Deno.test("with other workers over one process's RSS, only a worker holding at least the mean share sheds, and every worker refuses newcomers", async (t) => {
  // Two guards, as two deno serve workers, each with its own channel end.
  const name = `memory-share-test-${crypto.randomUUID()}`;
  let rss = 100 * MiB;
  const own = { flooded: 300 * MiB, quiet: 20 * MiB };
  const floodedPeers = new BroadcastMemoryPeers({ name });
  const quietPeers = new BroadcastMemoryPeers({ name });
  using flooded = disposable(
    new MemoryGuard({
      budgetBytes: 0,
      maxRssBytes: 200 * MiB,
      readRss: () => rss,
      readOwn: () => own.flooded,
      peers: floodedPeers,
    }),
  );
  using quiet = disposable(
    new MemoryGuard({
      budgetBytes: 0,
      maxRssBytes: 200 * MiB,
      readRss: () => rss,
      readOwn: () => own.quiet,
      peers: quietPeers,
    }),
  );
  const heavy = new Holder(8 * MiB);
  const light = new Holder(MiB);
  flooded.charge(heavy, heavy.bytes);
  quiet.charge(light, light.bytes);
  // Shares cross the channel asynchronously: each publishes, waits to hear
  // the other's, then decides on what it heard.
  const exchange = async () => {
    const heard = [floodedPeers.received, quietPeers.received];
    flooded.sample();
    quiet.sample();
    await until(
      () =>
        floodedPeers.received > heard[0]! && quietPeers.received > heard[1]!,
      "each worker to hear the other's share",
    );
    flooded.sample();
    quiet.sample();
  };
  await t.step("each worker learns the other's share", async () => {
    await exchange();
    assert.equal(quiet.state().worker?.ownBytes, 21 * MiB);
    assert.equal(quiet.state().worker?.meanBytes, (308 + 21) / 2 * MiB);
  });
  await t.step(
    "over the RSS limit the flooded worker sheds, the quiet one keeps its clients",
    async () => {
      rss = 400 * MiB;
      await exchange();
      assert.equal(flooded.shedding, "rss");
      assert.equal(heavy.shedBy, "rss");
      assert.equal(light.shedBy, undefined);
    },
  );
  await t.step(
    "and the quiet one refuses upgrades too: what Deno collects before a message is in nobody's share",
    () => {
      assert.equal(quiet.refusing, "rss");
      assert.equal(quiet.shedding, undefined, "it sheds nothing");
      assert.equal(
        quiet.refuses(light, light.bytes + MiB, false),
        undefined,
        "its clients' echoes",
      );
    },
  );
  await t.step(
    `with RSS steady for ${RSS_SETTLE_SAMPLES} samples, the quiet one admits again though its clients hold memory`,
    async () => {
      assert.ok(quiet.state().usedBytes > 0);
      for (let i = 0; i < RSS_SETTLE_SAMPLES; i++) await exchange();
      assert.equal(quiet.refusing, undefined);
      assert.equal(light.shedBy, undefined);
    },
  );
  await t.step(
    "once the quiet worker holds the most, it is the one to shed",
    async () => {
      rss = 450 * MiB;
      own.flooded = 10 * MiB;
      own.quiet = 300 * MiB;
      await exchange();
      assert.equal(light.shedBy, "rss");
    },
  );
  await t.step("back under the limit both admit again", async () => {
    rss = 100 * MiB;
    await exchange();
    assert.equal(quiet.refusing, undefined);
    assert.equal(flooded.refusing, undefined);
  });
});

Deno.test("a serve worker holding less than the mean share only refuses upgrades over MAX_RSS_BYTES: it sheds nothing, its clients keep being served, and it admits again only on RSS that stopped rising", async (t) => {
  // The other worker holds the flood (500 MiB), as the review's scratch run.
  const peers: MemoryPeers = {
    exchange: () => [500 * MiB],
    shareCounted: () => ({ used: 0, moved: 0 }),
    close: () => {},
  };
  let rss = 300 * MiB;
  using quiet = disposable(
    new MemoryGuard({
      budgetBytes: 0,
      maxRssBytes: 256 * MiB,
      readRss: () => rss,
      readOwn: () => 10 * MiB,
      peers,
    }),
  );
  const client = new Holder(MiB);
  quiet.charge(client, client.bytes);
  await t.step(
    "it refuses upgrades but does not shed: /stream's unreadBytes, /healthz's status and the gauge read shedding",
    () => {
      quiet.sample();
      assert.equal(quiet.refusing, "rss");
      assert.equal(quiet.admitsFrom("198.51.100.0/24"), false);
      assert.equal(quiet.shedding, undefined);
      assert.equal(quiet.state().shedding, null);
      assert.equal(quiet.state().refusing, "rss");
      assert.equal(
        quiet.refuses(client, client.bytes + MiB),
        undefined,
        "its clients' echoes",
      );
      assert.equal(client.shedBy, undefined);
    },
  );
  await t.step(
    "RSS creeping up 0.9% a sample is not steady: it refuses every sample",
    () => {
      const refusedAt: boolean[] = [];
      for (let i = 0; i < 60; i++) {
        rss = Math.round(rss * 1.009);
        quiet.sample();
        refusedAt.push(quiet.refusing === "rss");
      }
      assert.equal(refusedAt.filter((refused) => !refused).length, 0);
      assert.ok(rss > 1.5 * 256 * MiB);
    },
  );
  await t.step(
    `RSS flat above the limit for ${RSS_SETTLE_SAMPLES} samples is memory the allocator kept: it admits again`,
    () => {
      for (let i = 0; i < RSS_SETTLE_SAMPLES - 1; i++) {
        quiet.sample();
        assert.equal(quiet.refusing, "rss", `flat sample ${i + 1}`);
      }
      quiet.sample();
      assert.equal(quiet.refusing, undefined);
      assert.equal(client.shedBy, undefined);
    },
  );
});

Deno.test("MemoryGuard counts shed holders apart: the next pass comes when the others pass the budget", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0 }),
  );
  const stuck = new Holder(0);
  guard.charge(stuck, 11 * MiB);
  assert.equal(stuck.shedBy, "memory_budget", "shed within the charge");
  // A shed connection keeps its charge until it has closed (Deno may hold a
  // socket stuck behind a client that does not read): it is not shed twice.
  const holders = Array.from({ length: 9 }, () => new Holder(1 * MiB));
  for (const holder of holders) guard.charge(holder, holder.bytes);
  assert.deepEqual(guard.state().shed, { memory_budget: 1, rss: 0 });
  assert.equal(guard.shedding, "memory_budget", "20 MiB held: refusing");
  const last = new Holder(2 * MiB);
  guard.charge(last, last.bytes);
  assert.equal(
    last.shedBy,
    "memory_budget",
    "11 MiB not yet shed: the largest goes",
  );
  guard.charge(stuck, 0);
  assert.equal(guard.state().usedBytes, 11 * MiB);
});

Deno.test("MemoryGuard refuses for one sample at most while nobody is shed: the next sheds the largest until the rest fits, then admits once the shed have gone or CLOSING_WAIT_MS has passed", () => {
  let now = 0;
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0, now: () => now }),
  );
  const large = new Holder(4 * MiB);
  const medium = new Holder(3 * MiB);
  const small = new Holder(2.5 * MiB);
  for (const holder of [large, medium, small]) {
    guard.charge(holder, holder.bytes);
  }
  // A stream that wants 1 MiB more does not fit: it waits, newcomers get 503.
  assert.equal(guard.refuses(medium, medium.bytes + MiB), "memory_budget");
  assert.equal(guard.shedding, "memory_budget");
  guard.sample();
  assert.equal(large.shedBy, "memory_budget", "the largest goes first");
  assert.equal(medium.shedBy, undefined, "5.5 MiB left fits in 75%");
  assert.equal(small.shedBy, undefined);
  // The shed connection still holds its 4 MiB until it has closed: while
  // it may still go, newcomers wait (they would queue as much again).
  assert.equal(guard.state().usedBytes, 9.5 * MiB);
  now += CLOSING_WAIT_MS - 1;
  guard.sample();
  assert.equal(guard.shedding, "memory_budget", "waits for the shed to go");
  // A client that never reads may never finish its Close: past the wait
  // newcomers are admitted all the same, since what stays is under 90%.
  now += 1;
  guard.sample();
  assert.equal(guard.shedding, undefined);
});

Deno.test("MemoryGuard admits again as soon as the connections it shed have gone", () => {
  let now = 0;
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0, now: () => now }),
  );
  const large = new Holder(8 * MiB);
  const small = new Holder(2 * MiB);
  guard.charge(small, small.bytes);
  guard.charge(large, large.bytes);
  guard.charge(small, 3 * MiB);
  assert.equal(large.shedBy, "memory_budget");
  assert.equal(guard.shedding, "memory_budget");
  now += 1000;
  guard.charge(large, 0);
  guard.sample();
  assert.equal(guard.shedding, undefined, "3 MiB held: admitting");
});

Deno.test("MemoryGuard with workers holds its part of the process's budget", () => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0, workers: 2 }),
  );
  assert.equal(guard.state().budgetBytes, 5 * MiB);
  const holder = new Holder(0);
  guard.charge(holder, 4 * MiB);
  assert.equal(
    guard.refuses(holder, 5 * MiB),
    undefined,
    "5 MiB fits its part",
  );
  assert.equal(guard.refuses(holder, 5 * MiB + 1), "memory_budget");
});

Deno.test("MemoryGuard.refuses() asks room only for what a connection's charge grows by", async (t) => {
  let now = 0;
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0, now: () => now }),
  );
  const reader = new Holder(3 * MiB);
  const other = new Holder(6 * MiB);
  guard.charge(reader, reader.bytes);
  guard.charge(other, other.bytes);
  await t.step("its own charge is not counted twice", () => {
    // 9 MiB held; the reader goes from 3 to 4 MiB: 10 MiB fits.
    assert.equal(guard.refuses(reader, 4 * MiB, false), undefined);
    assert.equal(guard.refuses(reader, 4 * MiB + 1, false), "memory_budget");
  });
  await t.step("the charges are read again before a refusal", () => {
    // The other's echoes drained since its last send: 3 + 4 + 2 fits.
    other.bytes = 4 * MiB;
    now += RECOUNT_MS;
    assert.equal(guard.refuses(reader, 5 * MiB, false), undefined);
    assert.equal(guard.state().usedBytes, 7 * MiB);
  });
});

Deno.test("MemoryGuard.refuses() closes nobody for a client that read all it was sent until its echo has waited: then the largest others go", async (t) => {
  using guard = disposable(
    new MemoryGuard({ budgetBytes: 10 * MiB, maxRssBytes: 0 }),
  );
  const reader = new Holder(2 * MiB);
  const large = new Holder(5 * MiB);
  const small = new Holder(3 * MiB);
  for (const holder of [reader, large, small]) {
    guard.charge(holder, holder.bytes);
  }
  await t.step("no room: refused, nobody shed, upgrades refused", () => {
    assert.equal(guard.refuses(reader, 3 * MiB, false), "memory_budget");
    assert.deepEqual([reader, large, small].map((h) => h.shedBy), [
      undefined,
      undefined,
      undefined,
    ]);
    assert.equal(guard.refusing, "memory_budget");
  });
  await t.step(
    "late: the largest other is shed, and the echo waits for it to go",
    () => {
      assert.equal(
        guard.refuses(reader, 3 * MiB, false, true),
        "memory_budget",
      );
      assert.equal(large.shedBy, "memory_budget");
      assert.equal(small.shedBy, undefined);
      assert.equal(reader.shedBy, undefined);
      guard.charge(large, 0);
      assert.equal(guard.refuses(reader, 3 * MiB, false), undefined);
    },
  );
});
