/**
 * `workersReady` (`lib/start/workers_ready.ts`): each `deno serve` worker
 * waits until every other has said it is ready, whatever the order they
 * start listening in, and serves anyway at its deadline.
 *
 * @module
 */
import assert from "node:assert/strict";
import { workersReady } from "../../lib/start/workers_ready.ts";

Deno.test("workersReady() settles once every worker said it is ready", async (t) => {
  await t.step("two that start together", async () => {
    const name = `ready-${crypto.randomUUID()}`;
    const both = await Promise.all([
      workersReady(2, { name }),
      workersReady(2, { name }),
    ]);
    assert.deepEqual(both, [
      { heard: 1, timedOut: false },
      { heard: 1, timedOut: false },
    ]);
  });

  await t.step("a third that comes after the first said it", async () => {
    const name = `ready-${crypto.randomUUID()}`;
    const first = workersReady(3, { name });
    // Its first word is gone before the others listen.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const second = workersReady(3, { name });
    await new Promise((resolve) => setTimeout(resolve, 0));
    const third = workersReady(3, { name });
    assert.deepEqual(await Promise.all([first, second, third]), [
      { heard: 2, timedOut: false },
      { heard: 2, timedOut: false },
      { heard: 2, timedOut: false },
    ]);
  });

  await t.step("one alone gives up at its deadline", async () => {
    const name = `ready-${crypto.randomUUID()}`;
    assert.deepEqual(await workersReady(2, { name, timeoutMs: 50 }), {
      heard: 0,
      timedOut: true,
    });
  });
});
