/**
 * An echo waiting for room whose own client the wait sheds (the memory
 * guard closes the largest holders for what a late echo lacks, itself too
 * when it is among them) is freed once: the close frees it, and the wait
 * must not free it again. Freeing a detached `ArrayBuffer` threw
 * `Cannot perform ArrayBuffer.prototype.transfer on a detached ArrayBuffer`
 * from the guard's retry timer and ended `deno task start` under 256
 * clients sending 1 MiB and never reading (2 of 8 runs, notes rssfind.md).
 *
 * @module
 */
import assert from "node:assert/strict";
import { MemoryGuard } from "../../lib/admission/memory_guard.ts";
import { fakeConnection } from "../_fake_socket.ts";

const MiB = 1024 * 1024;

Deno.test("an echo waiting for room whose own client its wait sheds is closed 1013, its message freed once", async (t) => {
  // 4 MiB: under RESUME_BELOW (3.6 MiB) with another client's 1.5 MiB
  // beside this one's 2 MiB, so only the late wait sheds, and this
  // connection is the largest holder.
  const memory = new MemoryGuard({ budgetBytes: 4 * MiB, maxRssBytes: 0 });
  // It reads: the guard sheds clients that do not read first.
  const other = { recount: () => 1.5 * MiB, shed: () => {}, reading: true };
  memory.charge(other, 1.5 * MiB);
  try {
    using c = fakeConnection({}, { memory });
    c.socket.receive(new ArrayBuffer(MiB));
    await t.step("the echo of a caught-up client waits for room", () => {
      assert.equal(c.socket.sent.length, 0);
      assert.equal(c.socket.closedWith, undefined);
    });
    await t.step(
      "after WAIT_FOR_ROOM_MS the wait sheds its own client: 1013, nothing thrown",
      async () => {
        assert.deepEqual(await c.closed(), {
          code: 1013,
          reason: "server overloaded: try again later",
        });
        assert.equal(c.socket.sent.length, 0, "no echo after the close");
        assert.equal(memory.state().shed.memory_budget, 1, "shed by its wait");
      },
    );
    c.socket.peerClosed(1006);
  } finally {
    memory.dispose();
  }
});
