/**
 * When the overload watch takes the process for calm, without a network:
 * the moment before which a silent connection was there before the trouble
 * began, so the attribution spares it (an idle client is never struck just
 * for being idle when memory grows or the loop is held).
 */
import assert from "node:assert/strict";
import {
  CALM_SPAN_MS,
  OverloadSignals,
  type Sample,
} from "../../lib/start/overload_signals.ts";

const MiB = 1024 * 1024;
const limits = { maxRssBytes: 400 * MiB, stallMs: 300 };

/** Samples every 100 ms from `from` to `to`; `fields(at)` varies them. */
function run(
  signals: OverloadSignals,
  from: number,
  to: number,
  fields: (at: number) => Partial<Sample> = () => ({}),
) {
  for (let at = from; at <= to; at += 100) {
    signals.add({
      at,
      rssBytes: 100 * MiB,
      usedBytes: 0,
      delayMs: 2,
      messagesIn: 0,
      bytesIn: 0,
      cpuMs: at * 0.01,
      ...fields(at),
    });
  }
}

Deno.test("OverloadSignals.calmSince marks the latest calm window", async (t) => {
  await t.step("nothing before a window has spanned CALM_SPAN_MS", () => {
    const signals = new OverloadSignals(limits);
    run(signals, 0, CALM_SPAN_MS - 100);
    assert.equal(signals.calmSince, -Infinity);
  });
  await t.step("an idle process: the start of the current window", () => {
    const signals = new OverloadSignals(limits);
    run(signals, 0, 10_000);
    assert.ok(signals.calmSince >= 7_900, String(signals.calmSince));
  });
  await t.step(
    "memory growing uncounted (an endless fragmented message) is not calm",
    () => {
      const signals = new OverloadSignals(limits);
      run(signals, 0, 3000);
      // 20 MiB/s from 3 s on, far under the limit: no incident, and the
      // latest calm window began 1.5 s or more before the growth did.
      run(signals, 3100, 6000, (at) => ({
        rssBytes: 100 * MiB + (at - 3000) * 20 * 1024,
      }));
      assert.ok(
        signals.calmSince <= 3000 - CALM_SPAN_MS + 100,
        String(signals.calmSince),
      );
    },
  );
  await t.step(
    "a late loop of the process's own doing is not; a loaded machine's is",
    () => {
      const flooded = new OverloadSignals(limits);
      run(flooded, 0, 3000);
      // Timers 200 ms late while burning 30% of a core: no stall yet.
      run(flooded, 3100, 6000, (at) => ({ delayMs: 200, cpuMs: at * 0.3 }));
      assert.ok(flooded.calmSince < 3000, String(flooded.calmSince));
      const loaded = new OverloadSignals(limits);
      // The same lateness at 1% of a core and a fair share of 6%.
      run(loaded, 0, 6000, () => ({ delayMs: 200, fairShare: 0.06 }));
      assert.ok(loaded.calmSince >= 3900, String(loaded.calmSince));
    },
  );
  await t.step("kept across reset() (the recycle after an incident)", () => {
    const signals = new OverloadSignals(limits);
    run(signals, 0, 3000);
    const calm = signals.calmSince;
    signals.reset();
    assert.equal(signals.calmSince, calm);
  });
});
