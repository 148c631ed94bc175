/**
 * The overload watch's memory detector without a network: RSS growth is an
 * incident only when neither the connections' bytes, the payload moved nor
 * the connections opened and closed account for it.
 */
import assert from "node:assert/strict";
import {
  CONNECTION_BYTES,
  OverloadSignals,
} from "../../lib/start/overload_signals.ts";
import { MiB, sample } from "./_samples.ts";

Deno.test("OverloadSignals: memory growth is an incident only when nothing accounts for it", async (t) => {
  const limits = { maxRssBytes: 400 * MiB, stallMs: 300 };
  await t.step("uncounted growth near the limit trips", () => {
    const signals = new OverloadSignals(limits);
    assert.equal(signals.add(sample(0, { rssBytes: 350 * MiB })), undefined);
    assert.equal(
      signals.add(sample(100, { rssBytes: 370 * MiB })),
      "uncounted_memory",
    );
  });
  await t.step("growth the connections account for does not", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 300 * MiB, usedBytes: 0 }));
    const grown = sample(100, { rssBytes: 380 * MiB, usedBytes: 80 * MiB });
    assert.equal(signals.add(grown), undefined);
  });
  await t.step(
    "growth the connections opened meanwhile explain does not",
    () => {
      // 10,000 idle WebSockets opened: about 21 KiB each, nothing counted.
      const signals = new OverloadSignals(limits);
      signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 5000 }));
      const opened = sample(1000, {
        rssBytes: 300 * MiB,
        connectionChanges: 10_000,
      });
      assert.equal(signals.add(opened), undefined);
    },
  );
  await t.step("nor growth while they close (their garbage)", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 10_000 }));
    const closed = sample(1000, {
      rssBytes: 240 * MiB,
      connectionChanges: 20_000,
    });
    assert.equal(signals.add(closed), undefined);
  });
  await t.step("but growth beyond what they explain still trips", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 200 * MiB, connectionChanges: 100 }));
    const explained = 100 * CONNECTION_BYTES;
    const grown = sample(1000, {
      rssBytes: 240 * MiB + explained,
      connectionChanges: 200,
    });
    assert.equal(signals.add(grown), "uncounted_memory");
  });
  await t.step(
    "steady RSS over the limit does not (memory kept by the allocator)",
    () => {
      const signals = new OverloadSignals(limits);
      for (let at = 0; at < 3000; at += 100) {
        assert.equal(
          signals.add(sample(at, { rssBytes: 420 * MiB })),
          undefined,
        );
      }
    },
  );
  await t.step("growth across a stall counts, however long the stall", () => {
    const signals = new OverloadSignals(limits);
    signals.add(sample(0, { rssBytes: 150 * MiB }));
    assert.equal(
      signals.add(sample(5000, { rssBytes: 260 * MiB })),
      "uncounted_memory",
    );
  });
  await t.step(
    "growth the payload moved within the window explains does not (large echoes)",
    () => {
      // 32 clients echoing 1 MiB messages: RSS grows by messages arriving
      // and the garbage of finished echoes, which the guard does not hold.
      const echoing = new OverloadSignals(limits);
      echoing.add(sample(0, { rssBytes: 200 * MiB, bytesIn: 0, bytesOut: 0 }));
      const grown = { rssBytes: 260 * MiB, bytesIn: 32 * MiB };
      assert.equal(
        echoing.add(sample(1000, { ...grown, bytesOut: 32 * MiB })),
        undefined,
      );
      // Workers' totals (`deno serve --parallel`) stand in for this worker's.
      const workers = new OverloadSignals(limits);
      workers.add(sample(0, { rssBytes: 200 * MiB, movedBytes: 0 }));
      assert.equal(
        workers.add(
          sample(1000, { rssBytes: 260 * MiB, movedBytes: 64 * MiB }),
        ),
        undefined,
      );
      // Fragments never complete a message: nothing moved, the same growth trips.
      const fragments = new OverloadSignals(limits);
      fragments.add(sample(0, { rssBytes: 200 * MiB }));
      assert.equal(
        fragments.add(sample(1000, { rssBytes: 260 * MiB })),
        "uncounted_memory",
      );
    },
  );
  await t.step(
    "without a recycle (deno serve: the action is exit) only growth near the limit trips",
    () => {
      const serve = new OverloadSignals({ ...limits, earlyTrip: false });
      serve.add(sample(0, { rssBytes: 200 * MiB }));
      assert.equal(serve.add(sample(100, { rssBytes: 300 * MiB })), undefined);
      assert.equal(
        serve.add(sample(200, { rssBytes: 370 * MiB })),
        "uncounted_memory",
      );
    },
  );
  await t.step("off when MAX_RSS_BYTES is 0", () => {
    const signals = new OverloadSignals({ maxRssBytes: 0, stallMs: 300 });
    signals.add(sample(0, { rssBytes: 150 * MiB }));
    assert.equal(signals.add(sample(100, { rssBytes: 9000 * MiB })), undefined);
  });
});

Deno.test("OverloadSignals: growth spread over windows that each grew is one growth", async (t) => {
  // The split fragments test's: the early trip from 72 MiB, 11.5 MiB of
  // growth within a window, a window calm under 2.9 MiB.
  const limits = { maxRssBytes: 144 * MiB, stallMs: 300 };
  /** RSS in MiB at each `at` (ms). */
  const feed = (signals: OverloadSignals, steps: Array<[number, number]>) =>
    steps.map(([at, rss]) => signals.add(sample(at, { rssBytes: rss * MiB })));
  await t.step(
    "growth under the line in every window (samples 2.5 s apart on a busy machine) trips once it adds up",
    () => {
      const signals = new OverloadSignals(limits);
      const causes = feed(signals, [[0, 60], [2500, 67], [5000, 74]]);
      assert.deepEqual(causes, [undefined, undefined, "uncounted_memory"]);
    },
  );
  await t.step("a calm window between starts the count again", () => {
    const signals = new OverloadSignals(limits);
    const flat: Array<[number, number]> = Array.from(
      { length: 21 },
      (_, i) => [2600 + 100 * i, 67],
    );
    const causes = feed(signals, [[0, 60], [2500, 67], ...flat, [7100, 74]]);
    assert.ok(causes.every((cause) => cause === undefined), String(causes));
  });
  await t.step(
    "without a recycle (deno serve: the action is exit) one window only",
    () => {
      const serve = new OverloadSignals({ ...limits, earlyTrip: false });
      // Near the limit (from 129.6 MiB) a window trips at 4.3 MiB.
      const causes = feed(serve, [
        [0, 124],
        [2500, 128],
        [5000, 132],
        [7500, 136],
      ]);
      assert.ok(causes.every((cause) => cause === undefined), String(causes));
    },
  );
  await t.step(
    "the watchdog thread's start keeps the growth under way and leaves out its own bytes",
    () => {
      const attacked = new OverloadSignals(limits);
      feed(attacked, [[0, 60], [1000, 66]]);
      attacked.restart(16 * MiB);
      const causes = feed(attacked, [[1100, 82], [1200, 88]]);
      assert.deepEqual(causes, [undefined, "uncounted_memory"]);
      // The thread's isolate alone, arriving over a few samples.
      const idle = new OverloadSignals(limits);
      feed(idle, [[0, 60], [1000, 66]]);
      idle.restart(16 * MiB);
      const own = feed(idle, [[1100, 74], [1200, 80], [1300, 82]]);
      assert.ok(own.every((cause) => cause === undefined), String(own));
    },
  );
});
