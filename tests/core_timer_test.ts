/**
 * The core timers (`lib/core_timer.ts`): Deno's test sanitizer does not
 * track them, so these tests check that a cancelled timer never fires.
 */
import assert from "node:assert/strict";
import { after, every } from "../lib/core_timer.ts";

/** Resolves after `ms` on a core timer. */
function later(ms: number): Promise<void> {
  return new Promise((resolve) => after(ms, resolve));
}

Deno.test("after() calls back once, and never once cancelled", async (t) => {
  await t.step("fires once, not before its time", async () => {
    const started = performance.now();
    let calls = 0;
    await new Promise<void>((resolve) =>
      after(20, () => {
        calls++;
        resolve();
      })
    );
    // Timers may round down by a millisecond, never fire much early.
    assert.ok(performance.now() - started >= 19);
    await later(30);
    assert.equal(calls, 1);
  });
  await t.step(
    "a cancelled timer never fires, and cancelling twice is safe",
    async () => {
      let fired = false;
      const cancel = after(5, () => fired = true);
      cancel();
      cancel();
      await later(30);
      assert.equal(fired, false);
    },
  );
  await t.step("cancelling after it fired is safe", async () => {
    let calls = 0;
    const cancel = after(1, () => calls++);
    await later(20);
    cancel();
    assert.equal(calls, 1);
  });
});

Deno.test("every() repeats until stopped, also when stopped from its own callback", async (t) => {
  await t.step("stopped from outside", async () => {
    let ticks = 0;
    const stop = every(2, () => ticks++);
    const deadline = performance.now() + 10_000;
    while (ticks < 3) {
      assert.ok(performance.now() < deadline, "three ticks within 10 s");
      await later(2);
    }
    stop();
    const stoppedAt = ticks;
    await later(30);
    assert.equal(ticks, stoppedAt);
  });
  await t.step("stopped from its own callback", async () => {
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const stop = every(1, () => {
        if (++ticks === 2) {
          stop();
          stop();
          resolve();
        }
      });
    });
    await later(30);
    assert.equal(ticks, 2);
  });
});
