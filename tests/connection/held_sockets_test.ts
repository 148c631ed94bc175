/**
 * HeldSockets: connections whose Close cannot reach the client are aborted
 * through the kernel after a grace, and released once their socket is gone.
 */
import assert from "node:assert/strict";
import {
  type AbortAnswer,
  HELD_ABORT_AFTER_MS,
  type HeldReport,
  HeldSockets,
  type SocketAbort,
} from "../../lib/connection/held_sockets.ts";
import { until } from "../_client.ts";

const peer = (port: number): Deno.NetAddr => ({
  transport: "tcp",
  hostname: "127.0.0.2",
  port,
});

/** A kernel that answers `answer(peers)` and records what it was asked. */
function kernel(answer: (peers: readonly Deno.NetAddr[]) => AbortAnswer) {
  const asked: Deno.NetAddr[][] = [];
  const abort: SocketAbort = {
    abort(peers) {
      asked.push([...peers]);
      return Promise.resolve(answer(peers));
    },
  };
  return { abort, asked };
}

Deno.test("HeldSockets aborts a held connection after the grace and releases it", async () => {
  const { abort, asked } = kernel((peers) => ({
    aborted: peers.length,
    left: new Set(),
  }));
  const reports: HeldReport[] = [];
  const held = new HeldSockets(abort, (report) => reports.push(report));
  const heldAt = Date.now();
  let releasedAt = 0;
  let gone: boolean | undefined;
  held.hold(peer(40000), (kernelLetGo) => {
    releasedAt = Date.now();
    gone = kernelLetGo;
  });
  try {
    await until(() => releasedAt > 0, "the release", { timeoutMs: 10_000 });
  } finally {
    await held.dispose();
  }
  assert.ok(releasedAt - heldAt >= HELD_ABORT_AFTER_MS, "not before the grace");
  assert.deepEqual(asked, [[peer(40000)]]);
  assert.equal(gone, true, "released as gone from the kernel");
  assert.equal(held.aborted, 1);
  assert.deepEqual(reports, [{ aborted: 1, left: 0 }]);
});

Deno.test("HeldSockets keeps a connection the kernel did not abort, and says why once", async (t) => {
  const reason = "SOCK_DESTROY answers: Operation not permitted";
  const { abort, asked } = kernel((peers) => ({
    aborted: 0,
    left: new Set(peers),
    refused: reason,
  }));
  const reports: HeldReport[] = [];
  const held = new HeldSockets(abort, (report) => reports.push(report));
  let released = 0;
  held.hold(peer(40001), () => released++);
  try {
    await until(() => asked.length >= 2, "two looks", { timeoutMs: 10_000 });
    await t.step("still held and counted, the refusal reported once", () => {
      assert.equal(released, 0);
      assert.equal(held.size, 1);
      assert.deepEqual(reports, [{ aborted: 0, left: 1, reason }]);
    });
  } finally {
    await held.dispose();
  }
  await t.step("released at shutdown", () => assert.equal(released, 1));
});

Deno.test("HeldSockets releases what it cannot ask the kernel about (no ss), not as gone", async () => {
  const { abort } = kernel(() => ({ unavailable: "ss: not found" }));
  const reports: HeldReport[] = [];
  const held = new HeldSockets(abort, (report) => reports.push(report));
  let released = false;
  let gone: boolean | undefined;
  held.hold(peer(40002), (kernelLetGo) => {
    released = true;
    gone = kernelLetGo;
  });
  try {
    await until(() => released, "the release", { timeoutMs: 10_000 });
  } finally {
    await held.dispose();
  }
  assert.deepEqual(reports, [{ aborted: 0, left: 0, reason: "ss: not found" }]);
  // Only Deno's close event may then free the slot: the socket may be there.
  assert.equal(gone, false);
});

Deno.test("HeldSockets asks again when the kernel was too slow to answer", async () => {
  let looks = 0;
  const { abort } = kernel((peers) =>
    ++looks === 1
      ? { unavailable: "ss: Signal timed out.", transient: true }
      : { aborted: peers.length, left: new Set() }
  );
  const held = new HeldSockets(abort);
  let released = false;
  held.hold(peer(40003), () => released = true);
  try {
    await until(() => released, "the release", { timeoutMs: 10_000 });
  } finally {
    await held.dispose();
  }
  assert.equal(looks, 2, "released at the second look, not the first");
  assert.equal(held.aborted, 1);
});
