/**
 * A client on a slow network reads, only slowly: its echoes queue in Deno
 * (a small receive window) and drain between checks. While clients that
 * never read fill the memory budget, it is not closed with them; a client
 * whose backlog does not drain is (stranger15 S3: readers with an 8 KiB
 * receive buffer, 16 KiB every 100 ms read at 200 KB/s, closed 1013 beside
 * 256 clients that never read, 3 of 3 runs). Against a fake socket whose
 * `bufferedAmount` the test sets: no network, no timing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fakeConnection } from "../_fake_socket.ts";
import { MemoryGuard } from "../../lib/admission/memory_guard.ts";
import { until } from "../_client.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const MESSAGE_BYTES = 16 * KiB;
const BUDGET_BYTES = 8 * MiB;

/**
 * A guard whose budget another connection fills to the byte: any growth
 * is refused, and the filler is the largest holder to shed.
 */
function fullGuard(): { memory: MemoryGuard; filler: { shed: number } } {
  const memory = new MemoryGuard({
    budgetBytes: BUDGET_BYTES,
    maxRssBytes: 0,
    sampleMs: 3_600_000,
  });
  const filler = { shed: 0 };
  memory.charge({
    recount: () => BUDGET_BYTES,
    shed() {
      filler.shed++;
    },
  }, BUDGET_BYTES);
  return { memory, filler };
}

/**
 * Sends `count` messages of 16 KiB; before each, the client has read
 * `readBytes` of what Deno queued.
 */
function exchange(
  c: ReturnType<typeof fakeConnection>,
  count: number,
  readBytes: number,
): void {
  for (let i = 0; i < count && c.socket.closedWith === undefined; i++) {
    c.socket.bufferedAmount = Math.max(0, c.socket.bufferedAmount - readBytes);
    const before = c.socket.sent.length;
    c.socket.receive(new ArrayBuffer(MESSAGE_BYTES));
    if (c.socket.sent.length > before) {
      c.socket.bufferedAmount += MESSAGE_BYTES;
    }
  }
}

Deno.test("a client on a slow network is not closed while the memory budget is full", async (t) => {
  await t.step(
    "it reads half of each echo before its next message: 64 echoes, behind from the 9th, none refused",
    () => {
      const { memory, filler } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 64, MESSAGE_BYTES / 2);
      assert.equal(c.socket.sent.length, 64);
      assert.equal(c.memory.state().shed.memory_budget, 1, "one shed");
      assert.ok(c.socket.bufferedAmount >= 64 * KiB, "it was behind");
      assert.ok(filler.shed > 0, "the largest holder was shed instead");
    },
  );
  await t.step(
    "it reads nothing: closed 1013 once behind, its echo not queued",
    async () => {
      const { memory } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 64, 0);
      assert.deepEqual(await c.closed(), {
        code: 1013,
        reason: "server overloaded: try again later",
      });
      assert.ok(c.socket.sent.length < 8, `${c.socket.sent.length} echoes`);
    },
  );
});

Deno.test("an echo that is not plain waits for room as the plain echo does, instead of closing its client", async (t) => {
  await t.step(
    "/close (commands on): a 64 KiB echo with the budget full waits, and goes once there is room",
    async () => {
      let held = BUDGET_BYTES;
      const memory = new MemoryGuard({
        budgetBytes: BUDGET_BYTES,
        maxRssBytes: 0,
        sampleMs: 3_600_000,
      });
      const filler = { recount: () => held, shed() {} };
      memory.charge(filler, held);
      using c = fakeConnection({}, { memory, closeCommands: true });
      c.socket.receive(new ArrayBuffer(64 * KiB));
      assert.equal(c.socket.sent.length, 0, "it waits");
      assert.equal(c.memory.state().shed.memory_budget, 0, "not shed");
      held = 0;
      memory.charge(filler, 0);
      await until(() => c.socket.sent.length === 1, "the waiting echo", {
        timeoutMs: 20_000,
      });
      assert.equal(c.socket.closedWith, undefined);
      assert.equal(c.memory.state().shed.memory_budget, 0);
    },
  );
});
