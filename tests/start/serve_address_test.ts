import assert from "node:assert/strict";
import {
  SERVE_ADDRESS_WAIT_MS,
  ServeAddress,
} from "../../lib/start/serve_address.ts";

// Two instances in one isolate stand for two workers: a BroadcastChannel
// reaches every other instance with its name, never itself.

Deno.test("ServeAddress.ask() gets the main worker's address, or undefined when no worker listened", async (t) => {
  await t.step("the main worker answers", async () => {
    const main = new ServeAddress();
    const other = new ServeAddress();
    try {
      main.listening({ hostname: "127.0.0.1", port: 4321 });
      assert.deepEqual(await other.ask(), {
        hostname: "127.0.0.1",
        port: 4321,
      });
    } finally {
      main.close();
      other.close();
    }
  });
  await t.step("nobody listened: undefined after the wait", async () => {
    const main = new ServeAddress();
    const other = new ServeAddress();
    try {
      const started = performance.now();
      assert.equal(await other.ask(), undefined);
      assert.ok(performance.now() - started >= SERVE_ADDRESS_WAIT_MS - 50);
    } finally {
      main.close();
      other.close();
    }
  });
});

Deno.test("ServeAddress.otherWorkersAccepting() is true only when another worker's own listener accepts", async (t) => {
  let accepting = true;
  const other = new ServeAddress(() => accepting);
  const self = new ServeAddress(() => true);
  try {
    await t.step("another accepts", async () => {
      assert.equal(await self.otherWorkersAccepting(), true);
    });
    await t.step(
      "none accepts (this one's own answer does not count)",
      async () => {
        accepting = false;
        assert.equal(await self.otherWorkersAccepting(), false);
      },
    );
  } finally {
    other.close();
    self.close();
  }
});

Deno.test("ServeAddress.saysTaken(): of the workers whose listen found the port taken, only the first says it", async (t) => {
  // Deno shares one subscription among an isolate's channels and drops it
  // when the last closes: a post answered while the next step's channels
  // subscribed again threw "TypeError: expected i32". A worker never closes
  // them all; neither does this test until its end.
  const keep = new BroadcastChannel("ws-echo:test-keep");
  /** Workers that each found the port taken, after the wait of ask(). */
  async function elect(workers: ServeAddress[]): Promise<boolean[]> {
    // ask() waits for the address nobody posts: the claims travel meanwhile.
    assert.deepEqual(
      await Promise.all(workers.map((worker) => worker.ask())),
      workers.map(() => undefined),
    );
    return workers.map((worker) => worker.saysTaken());
  }

  // Closed on a failing step too: a channel left open fails the sanitizer.
  try {
    await t.step("four at once: one says it", async () => {
      const workers = Array.from({ length: 4 }, () => new ServeAddress());
      try {
        for (const worker of workers) worker.foundTaken();
        const says = await elect(workers);
        assert.equal(says.filter(Boolean).length, 1, `${says}`);
      } finally {
        for (const worker of workers) worker.close();
      }
    });

    await t.step(
      "one that starts after the first's claim hears of it and stays silent",
      async () => {
        const first = new ServeAddress();
        first.foundTaken();
        // Made after the claim was posted: it never got that post.
        const late = new ServeAddress();
        try {
          late.foundTaken();
          assert.deepEqual(await elect([first, late]), [true, false]);
        } finally {
          first.close();
          late.close();
        }
      },
    );

    await t.step(
      "alone, it says it; without a claim it cannot tell",
      async () => {
        const only = new ServeAddress();
        try {
          assert.throws(() => only.saysTaken(), TypeError);
          only.foundTaken();
          assert.deepEqual(await elect([only]), [true]);
        } finally {
          only.close();
        }
      },
    );
  } finally {
    keep.close();
  }
});
