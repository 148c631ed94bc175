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
/** One backlog check's worth (`BACKLOG_CHECK_BYTES`): checked at each. */
const CHECK_BYTES = 64 * KiB;
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
 * Sends `count` messages of `bytes` (16 KiB unless told); before each, the
 * client has read `readBytes` of what Deno queued. Each echo counts in
 * `bufferedAmount` from its send on, as Deno's does.
 */
function exchange(
  c: ReturnType<typeof fakeConnection>,
  count: number,
  readBytes: number,
  bytes = MESSAGE_BYTES,
): void {
  const socket = c.socket;
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    send(data);
    socket.bufferedAmount += (data as ArrayBuffer).byteLength;
  };
  for (let i = 0; i < count && socket.closedWith === undefined; i++) {
    socket.bufferedAmount = Math.max(0, socket.bufferedAmount - readBytes);
    socket.receive(new ArrayBuffer(bytes));
  }
  socket.send = send;
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
    "64 KiB messages, half of each echo read before the next: 64 echoes, none waits (stranger17 F3)",
    () => {
      const { memory } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 64, CHECK_BYTES / 2, CHECK_BYTES);
      assert.equal(c.socket.closedWith, undefined);
      assert.equal(c.socket.sent.length, 64);
      assert.ok(c.socket.bufferedAmount >= CHECK_BYTES, "it was behind");
    },
  );
  await t.step(
    "a pipeliner of 64 KiB messages that reads each echo by its next message: none waits (stranger15 R7)",
    () => {
      const { memory } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 64, Infinity, CHECK_BYTES);
      assert.equal(c.socket.closedWith, undefined);
      assert.equal(c.socket.sent.length, 64);
    },
  );
  await t.step(
    "its reads of one echo come after its next message: that echo goes too",
    () => {
      const { memory } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 8, Infinity, CHECK_BYTES);
      exchange(c, 1, 0, CHECK_BYTES);
      assert.equal(c.socket.sent.length, 9);
      assert.equal(c.socket.closedWith, undefined);
    },
  );
  await t.step(
    "it stops reading: one more echo goes unasked, then it is closed 1013",
    async () => {
      const { memory } = fullGuard();
      using c = fakeConnection({}, { memory });
      exchange(c, 8, Infinity, CHECK_BYTES);
      exchange(c, 8, 0, CHECK_BYTES);
      assert.deepEqual(await c.closed(), {
        code: 1013,
        reason: "server overloaded: try again later",
      });
      assert.equal(c.socket.sent.length, 9);
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
    "/close (commands on): a 128 KiB echo with the budget full waits, and goes once there is room",
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
      c.socket.receive(new ArrayBuffer(2 * CHECK_BYTES));
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
