/**
 * The sweep keeps every connection's deadlines with one timer: the idle
 * timeout, and each connection's own deadline (open, close answered).
 */
import assert from "node:assert/strict";
import { ConnectionSweep, type Swept } from "../../lib/connection/sweep.ts";

/** A connection that records what the sweep asked of it. */
class Recorder implements Swept {
  calls: string[] = [];
  constructor(public idleFrom = Infinity, public dueAt = Infinity) {}
  closeIdle(): void {
    this.calls.push("idle");
  }
  due(): void {
    this.calls.push("due");
  }
}

Deno.test("a sweep closes connections silent for longer than the idle timeout, and only those", () => {
  const sweep = new ConnectionSweep(1000);
  const silent = new Recorder(0);
  const talking = new Recorder(500);
  const notOpen = new Recorder(Infinity);
  for (const connection of [silent, talking, notOpen]) sweep.add(connection);
  sweep.sweep(1000);
  assert.deepEqual(silent.calls, ["idle"]);
  assert.deepEqual(talking.calls, []);
  assert.deepEqual(notOpen.calls, []);
  for (const connection of [silent, talking, notOpen]) sweep.delete(connection);
});

Deno.test("a sweep calls due() once a connection's own deadline has passed, before any idle check", () => {
  const sweep = new ConnectionSweep(1000);
  const late = new Recorder(0, 900);
  const early = new Recorder(Infinity, 1001);
  sweep.add(late);
  sweep.add(early);
  sweep.sweep(1000);
  assert.deepEqual(late.calls, ["due"]);
  assert.deepEqual(early.calls, []);
  sweep.delete(late);
  sweep.delete(early);
});

Deno.test("with the idle timeout off (0), a sweep still keeps the deadlines", () => {
  const sweep = new ConnectionSweep(0);
  assert.equal(sweep.periodMs, 1000);
  const connection = new Recorder(0, 10);
  sweep.add(connection);
  sweep.sweep(5);
  assert.deepEqual(connection.calls, []);
  sweep.sweep(1e12);
  assert.deepEqual(connection.calls, ["due"]);
  sweep.delete(connection);
});

Deno.test("a sweep runs on its own while it has connections, and a connection may leave from its callback", async () => {
  const sweep = new ConnectionSweep(0, 5);
  const { promise, resolve } = Promise.withResolvers<void>();
  const connection: Swept = {
    idleFrom: Infinity,
    dueAt: 0,
    closeIdle() {},
    due() {
      sweep.delete(connection);
      resolve();
    },
  };
  sweep.add(connection);
  const deadline = AbortSignal.timeout(10_000);
  await Promise.race([
    promise,
    new Promise((_, reject) =>
      deadline.addEventListener(
        "abort",
        () => reject(new Error("the sweep did not run within 10 s")),
      )
    ),
  ]);
});

Deno.test("dispose() forgets every connection and stops the timer, so a shutdown is not held until a deadline", () => {
  const sweep = new ConnectionSweep(0, 5);
  const stuck = new Recorder(Infinity, Date.now() + 10_000);
  sweep.add(stuck);
  sweep.dispose();
  // Nothing is looked at any more; the test sanitizer would fail on a timer left.
  sweep.sweep(Date.now() + 60_000);
  assert.deepEqual(stuck.calls, []);
});
