/**
 * The overload watch samples every SAMPLE_MS while anything is held or
 * moving, and every QUIET_SAMPLE_MS while the process is quiet: each sample
 * wakes the process, and at 100 ms the samples were most of an idle
 * service's CPU (issue #23). Anything an attack needs ends the quiet at the
 * next sample. The watch reads a fake RSS, so the test decides when memory
 * grows; the client's connection is real.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";
import { OverloadWatch } from "../../lib/start/overload_watch.ts";
import {
  QUIET_RSS_GROWTH_BYTES,
  QUIET_SAMPLE_MS,
  SAMPLE_MS,
} from "../../lib/start/overload_watch_options.ts";

/** A loaded machine runs timers late: generous, never a bound on the watch. */
const WAIT = { timeoutMs: 20_000 };

Deno.test("the overload watch samples less often while the process is quiet", async (t) => {
  await using server = startTestServer({}, { overloadWatch: false });
  let rss = 100 * 2 ** 20;
  /** While set, RSS grows by twice the quiet allowance at each reading. */
  let growing = false;
  /**
   * The time of each sample's tick, as the watch took it: it arms the next
   * tick from that time before it reads RSS, so `sampleDueAt` less the
   * interval is the tick's own clock (a reading's clock would add the
   * tick's work before it, which moves from tick to tick on a busy machine).
   */
  const readings: number[] = [];
  const watch: OverloadWatch = new OverloadWatch(server.services, {
    readRss: () => {
      readings.push(server.services.turns.sampleDueAt - watch.sampleEveryMs);
      if (growing) rss += 2 * QUIET_RSS_GROWTH_BYTES;
      return rss;
    },
    readCpuMs: () => 0,
    readFairShare: () => 1,
  });
  /** Resolves after `count` more samples. */
  const samples = (count: number) => {
    const seen = readings.length;
    return until(
      () => readings.length >= seen + count,
      `${count} samples`,
      WAIT,
    );
  };
  try {
    await t.step(
      "with nothing held or moving, samples are QUIET_SAMPLE_MS apart",
      async () => {
        await until(
          () => watch.sampleEveryMs === QUIET_SAMPLE_MS,
          "the quiet",
          WAIT,
        );
        const from = readings.length;
        await samples(4);
        const gaps = readings.slice(from).map((at, i, all) =>
          at - (all[i - 1] ?? at)
        ).slice(1);
        // A timer never fires early (1 ms for rounding).
        for (const gap of gaps) {
          assert.ok(gap >= QUIET_SAMPLE_MS - 1, `gaps ${gaps}`);
        }
      },
    );

    const { socket, inbox } = await connect(`${server.ws}/echo`);
    await t.step(
      "a connection ends the quiet at the next sample, and holds it off",
      async () => {
        await samples(2);
        assert.equal(watch.sampleEveryMs, SAMPLE_MS);
        socket.send("hello");
        await inbox.next();
        await samples(3);
        assert.equal(watch.sampleEveryMs, SAMPLE_MS);
      },
    );
    await closeAndWait(socket, inbox);

    await t.step("RSS growth with nobody connected ends it too", async () => {
      await until(
        () => watch.sampleEveryMs === QUIET_SAMPLE_MS,
        "the quiet again",
        WAIT,
      );
      growing = true;
      await samples(3);
      assert.equal(watch.sampleEveryMs, SAMPLE_MS);
      growing = false;
    });
  } finally {
    watch.dispose();
  }
});
