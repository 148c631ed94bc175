/**
 * When the RSS watchdog thread acts on a held loop and how often it reads,
 * decided by its pure rules on the orders it is given (issue #20): no
 * thread, socket or clock.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  FLOOD_LOOK_HELD_MS,
  HELD_MS,
  LOOK_HELD_MS,
  WATCHDOG_SAMPLE_MS,
  watchdogOrders,
} from "../../lib/start/rss_watchdog.ts";
import {
  chooseAborts,
  givesUp,
  heldLongEnough,
} from "../../lib/start/watchdog_rules.ts";
import { SEEN_TELL_BYTES } from "../../lib/connection/traffic.ts";
import { readDelayMs } from "../../lib/start/watchdog_readings.ts";
import { QUIET_SAMPLE_MS } from "../../lib/start/overload_watch_options.ts";

const MiB = 2 ** 20;
/** The orders at MAX_RSS_BYTES 256 MiB and MAX_MESSAGE_BYTES 1 MiB. */
const orders = watchdogOrders(256 * MiB, { line: "", maxMessageBytes: MiB });
/** What a held stretch reads like after `heldMs`, growing `mibPerSecond`. */
function held(rssMiB: number, heldMs: number, mibPerSecond: number) {
  // The thread's first reading of the stretch is at LOOK_HELD_MS.
  const grownMs = heldMs - LOOK_HELD_MS;
  return {
    rssBytes: rssMiB * MiB,
    heldMs,
    grownBytes: mibPerSecond * MiB * grownMs / 1000,
    grownMs,
  };
}
/** Whether the abort past MAX_RSS_BYTES is due, where it may abort. */
const abortDue = (reading: ReturnType<typeof held>) =>
  reading.rssBytes >= orders.abortAtBytes &&
  heldLongEnough(reading, {
    ...orders,
    killAtBytes: orders.killAtBytes,
    actMs: orders.abortTakesMs,
  });

Deno.test("the watchdog thread acts on RSS past its line", async (t) => {
  await t.step(
    "growing 350 MiB/s just past MAX_RSS_BYTES: it aborts before HELD_MS, with the margin still ahead",
    () => {
      assert.ok(abortDue(held(260, 300, 350)));
      assert.ok(300 < HELD_MS);
    },
  );
  await t.step(
    "growing 100 MiB/s: it aborts once the margin left lasts less than the abort takes, not before",
    () => {
      // 100 MiB/s over ABORT_TAKES_MS (600 ms) is 60 MiB: kill line 384 MiB.
      assert.ok(!abortDue(held(300, 700, 100)));
      assert.ok(abortDue(held(330, 700, 100)));
    },
  );
  await t.step(
    "a long collection past MAX_RSS_BYTES (RSS flat): it waits HELD_MS, as before",
    () => {
      assert.ok(!abortDue(held(300, HELD_MS - 1, 0)));
      assert.ok(abortDue(held(300, HELD_MS, 0)));
    },
  );
  await t.step(
    "one honest message in the hold (growth of twice MAX_MESSAGE_BYTES at most): it waits HELD_MS",
    () => {
      const reading = { ...held(380, 260, 0), grownBytes: 2 * MiB, grownMs: 5 };
      assert.ok(!abortDue(reading));
      assert.ok(abortDue({ ...reading, heldMs: HELD_MS }));
    },
  );
  await t.step("under MAX_RSS_BYTES it never aborts on memory", () => {
    assert.ok(!abortDue(held(250, 2 * HELD_MS, 400)));
  });
});

/**
 * The flood rule's choice on a held loop alone for one own peer, `host
 * port` "127.0.44.1 5", read `kernelBytes` by the kernel and seen
 * `appBytes` of payload by the app since the stretch's first look.
 */
function floodNames(kernelBytes: number, appBytes: number): string[] {
  const peer = "127.0.44.1 5";
  const { named } = chooseAborts(
    {
      before: new Map([[peer, 0]]),
      after: new Map([[peer, kernelBytes]]),
      held: true,
    },
    {
      ...orders,
      own: () => true,
      unseen: () => undefined,
      seenGrowth: () => appBytes,
    },
  );
  return named.map((name) => name.peer);
}

Deno.test("a round that found nothing lowers the kill line only while the kernel reads on, RSS grows and no message reaches the app", async (t) => {
  const round = {
    early: false,
    seenBytes: 0,
    grownBytes: 40 * MiB,
    readBytes: 8 * MiB,
  };
  await t.step(
    "RSS growing, the kernel reading, nothing seen, past HELD_MS: gives up, +25%",
    () => {
      assert.equal(givesUp(round, orders), true);
      assert.equal(orders.capBytes, 320 * MiB);
    },
  );
  await t.step("RSS not growing (read before the hold): keeps +50%", () => {
    assert.equal(givesUp({ ...round, grownBytes: 0 }, orders), false);
    assert.equal(
      givesUp({ ...round, grownBytes: orders.honestGrowthBytes }, orders),
      false,
    );
    assert.equal(orders.killAtBytes, 384 * MiB);
  });
  await t.step(
    "RSS growing with nothing read between the looks (what is inside already): keeps +50%",
    () => {
      assert.equal(givesUp({ ...round, readBytes: 0 }, orders), false);
      assert.equal(
        givesUp({ ...round, readBytes: orders.honestGrowthBytes }, orders),
        false,
      );
    },
  );
  await t.step("1 MiB messages still reaching the app keep +50%", () => {
    assert.equal(givesUp({ ...round, seenBytes: MiB }, orders), false);
  });
  await t.step("a round before HELD_MS is tried again", () => {
    assert.equal(givesUp({ ...round, early: true }, orders), false);
  });
});

Deno.test("on a held loop alone, the flood rule counts what the kernel read beyond the payload the app saw", async (t) => {
  // A 1 MiB binary frame from a client: 14 bytes of header, 1 MiB masked.
  const frame = MiB + 14;
  await t.step(
    "an honest client pipelining 1 MiB messages, 9 read and 9 seen by the app in the stretch: not named",
    () => {
      assert.deepEqual(floodNames(9 * frame, 9 * MiB), []);
    },
  );
  await t.step(
    "the same with its tenth message read but not yet seen, and the app's last 32 KiB not yet told: not named",
    () => {
      const read = 10 * frame;
      const told = 9 * MiB - SEEN_TELL_BYTES + 1;
      assert.ok(read - told < orders.floodMinReadBytes);
      assert.deepEqual(floodNames(read, told), []);
    },
  );
  await t.step(
    "a pong flooder whose app saw 2 bytes (stranger8 F7: 'hi', then pongs): named",
    () => {
      assert.deepEqual(floodNames(9 * MiB, 2), ["127.0.44.1 5"]);
      assert.deepEqual(floodNames(orders.floodMinReadBytes + 2, 2), [
        "127.0.44.1 5",
      ]);
    },
  );
  await t.step(
    "a client mixing messages the app sees with more than a message of pongs: named",
    () => {
      assert.deepEqual(
        floodNames(9 * frame + orders.floodMinReadBytes, 9 * MiB),
        ["127.0.44.1 5"],
      );
    },
  );
});

Deno.test("with MAX_MESSAGE_BYTES 0 (off) one honest message may be Deno's 64 MiB frame: neither a flood nor fast growth", () => {
  const off = watchdogOrders(256 * MiB, { line: "", maxMessageBytes: 0 });
  assert.ok(off.floodMinReadBytes > 64 * MiB, String(off.floodMinReadBytes));
  // 32 MiB of one message collected in 100 ms, past MAX_RSS_BYTES.
  const reading = { ...held(300, 300, 0), grownBytes: 32 * MiB, grownMs: 100 };
  assert.ok(
    !heldLongEnough(reading, {
      ...off,
      killAtBytes: off.killAtBytes,
      actMs: off.abortTakesMs,
    }),
  );
});

Deno.test("the watchdog thread's reading pace", async (t) => {
  const idle = 60 * MiB;
  await t.step(
    "between two beats of a quiet watch (QUIET_SAMPLE_MS, late by up to 150 ms), an idle process reads only as growth could need",
    () => {
      assert.ok(QUIET_SAMPLE_MS + 150 < FLOOD_LOOK_HELD_MS);
      for (const heldMs of [0, LOOK_HELD_MS, QUIET_SAMPLE_MS + 150]) {
        assert.equal(
          readDelayMs({ rssBytes: idle, heldMs }, orders),
          readDelayMs({ rssBytes: idle, heldMs: 0 }, orders),
          `held ${heldMs} ms`,
        );
      }
      assert.ok(readDelayMs({ rssBytes: idle, heldMs: 0 }, orders) > 100);
    },
  );
  await t.step(
    "held FLOOD_LOOK_HELD_MS, where it looks whatever the RSS: every WATCHDOG_SAMPLE_MS",
    () => {
      assert.equal(
        readDelayMs({ rssBytes: idle, heldMs: FLOOD_LOOK_HELD_MS }, orders),
        WATCHDOG_SAMPLE_MS,
      );
    },
  );
  await t.step(
    "from half of MAX_RSS_BYTES up, held or not: every WATCHDOG_SAMPLE_MS",
    () => {
      assert.equal(
        readDelayMs({ rssBytes: orders.lookAtBytes, heldMs: 0 }, orders),
        WATCHDOG_SAMPLE_MS,
      );
    },
  );
});
