/**
 * A client shed for memory that keeps sending is not reading up to the
 * Close: Deno reads every message it sends (twice its size kept) until the
 * socket is aborted, so the abort comes at the held sockets' next look, not
 * after the grace a client that reads gets (stranger8 F3/F5: 128 such
 * clients from fresh addresses).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { MemoryGuard } from "../../lib/admission/memory_guard.ts";
import {
  HELD_ABORT_AFTER_MS,
  HeldSockets,
  type SocketAbort,
} from "../../lib/connection/held_sockets.ts";
import {
  SHED_SEND_GRACE_MS,
  SHED_SENDS_BEFORE_ABORT,
  UnreadEchoes,
} from "../../lib/connection/unread_echoes.ts";
import { until } from "../_client.ts";

const MiB = 1024 * 1024;
const peer: Deno.NetAddr = {
  transport: "tcp",
  hostname: "127.0.0.2",
  port: 40100,
};

/** Records what a connection asks of the held sockets. */
function heldRecorder() {
  const calls: string[] = [];
  const held = {
    hold(_peer: Deno.NetAddr, _release: unknown, afterMs: number) {
      calls.push(`hold ${afterMs}`);
    },
    hasten() {
      calls.push("hasten");
    },
  } as unknown as HeldSockets;
  return { held, calls };
}

function unreadEchoes(held: HeldSockets): UnreadEchoes {
  const memory = {
    charge() {},
    refuses: () => undefined,
  } as unknown as MemoryGuard;
  const socket = { bufferedAmount: 0 } as WebSocket;
  return new UnreadEchoes(socket, { recount: () => 0, shed() {} }, {
    maxBufferedBytes: Infinity,
    memory,
    queuedBytes: () => 0,
    held,
    peer,
  });
}

Deno.test("a client shed for memory that keeps sending is aborted at once", async (t) => {
  await t.step(
    "the first message after the Close may have been in flight: the grace stands",
    () => {
      const { held, calls } = heldRecorder();
      const unread = unreadEchoes(held);
      unread.received(MiB, 0);
      unread.closing("memory_budget", 0);
      unread.received(MiB, SHED_SEND_GRACE_MS + 1);
      assert.deepEqual(calls, [`hold ${HELD_ABORT_AFTER_MS}`]);
    },
  );
  await t.step(
    "messages it pipelined before the Close reached it do not count: its 1013 stands",
    () => {
      const { held, calls } = heldRecorder();
      const unread = unreadEchoes(held);
      unread.closing("rss", 0);
      for (let i = 0; i < SHED_SENDS_BEFORE_ABORT + 3; i++) {
        unread.received(MiB, i * 10);
      }
      unread.received(MiB, SHED_SEND_GRACE_MS);
      unread.received(MiB, SHED_SEND_GRACE_MS + 1);
      assert.deepEqual(calls, [`hold ${HELD_ABORT_AFTER_MS}`]);
    },
  );
  await t.step(
    "the second after the grace means it does not read: aborted at the next look",
    () => {
      const { held, calls } = heldRecorder();
      const unread = unreadEchoes(held);
      unread.closing("rss", 0);
      for (let i = 0; i < SHED_SENDS_BEFORE_ABORT + 3; i++) {
        unread.received(MiB, SHED_SEND_GRACE_MS + 1 + i);
      }
      assert.deepEqual(calls, [`hold ${HELD_ABORT_AFTER_MS}`, "hasten"]);
    },
  );
  await t.step("a client closed for another reason is not hastened", () => {
    const { held, calls } = heldRecorder();
    const unread = unreadEchoes(held);
    unread.closing(undefined);
    for (let i = 0; i < 4; i++) unread.received(MiB);
    assert.deepEqual(calls, []);
  });
});

Deno.test("HeldSockets aborts a hastened connection before one still in its grace", async () => {
  const asked: Deno.NetAddr[][] = [];
  const abort: SocketAbort = {
    abort(peers) {
      asked.push([...peers]);
      return Promise.resolve({ aborted: peers.length, left: new Set() });
    },
  };
  const held = new HeldSockets(abort);
  const reader = { ...peer, port: 40101 };
  let released = false;
  held.hold(reader, () => {}, 60_000);
  held.hold(peer, () => released = true);
  held.hasten(peer);
  try {
    await until(() => released, "the hastened release", { timeoutMs: 10_000 });
  } finally {
    await held.dispose();
  }
  assert.deepEqual(asked, [[peer]], "only the hastened one, at its first look");
});
