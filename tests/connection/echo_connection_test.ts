/**
 * The connection's per-message rules against a fake socket: no network, a
 * few milliseconds for the whole file.
 */
import assert from "node:assert/strict";
import {
  BACKLOG_CHECK_BYTES,
  FRAME_COST_BYTES,
  IN_FLIGHT_BYTES,
} from "../../lib/connection/backlog.ts";
import { toEchoOptions } from "../../lib/connection/parse_options.ts";
import { MemoryGuard } from "../../lib/admission/memory_guard.ts";
import { fakeConnection } from "../_fake_socket.ts";
import type { Closable } from "../../lib/admission/slots.ts";

Deno.test("an echo connection sends every message back unchanged", async (t) => {
  using c = fakeConnection();
  await t.step("text as text", () => {
    c.socket.receive("héllo");
    assert.equal(c.socket.sent.at(-1), "héllo");
  });
  await t.step("binary as binary, the same bytes", () => {
    const bytes = Uint8Array.of(0, 255, 7).buffer;
    c.socket.receive(bytes);
    assert.equal(c.socket.sent.at(-1), bytes);
  });
  await t.step("an empty message as an empty message", () => {
    c.socket.receive("");
    assert.equal(c.socket.sent.at(-1), "");
  });
  await t.step("every frame is counted, in UTF-8 bytes", () => {
    assert.equal(c.metrics.messagesOut, 3);
    assert.equal(c.metrics.bytesOut, 6 + 3 + 0);
  });
});

Deno.test("text Goodbye is echoed and then closes with 1000", async () => {
  using c = fakeConnection();
  c.socket.receive("Goodbye");
  assert.deepEqual(c.socket.sent, ["Goodbye"]);
  assert.deepEqual(await c.closed(), { code: 1000, reason: "Goodbye" });
});

Deno.test("a message over MAX_MESSAGE_BYTES is not echoed and closes with 1009", async () => {
  using c = fakeConnection({ MAX_MESSAGE_BYTES: "4" });
  c.socket.receive("12345");
  assert.deepEqual(c.socket.sent, []);
  assert.equal((await c.closed()).code, 1009);
  assert.equal(c.metrics.breaches.get("message_size"), 1);
});

Deno.test("the backlog counts a frame cost per unread frame, so small and empty echoes reach MAX_BUFFERED_BYTES", async (t) => {
  await t.step("a non-empty backlog is counted with its frames", async () => {
    using c = fakeConnection({
      MAX_BUFFERED_BYTES: "100000",
      RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    });
    // 100-byte echoes the client does not read: Deno reports their payload.
    const message = "x".repeat(100);
    let sent = 0;
    while (!c.metrics.breaches.has("slow_reader") && sent < 10_000) {
      c.socket.receive(message);
      sent++;
      c.socket.bufferedAmount = sent * 100;
    }
    const { code, reason } = await c.closed();
    assert.equal(code, 1008);
    assert.match(reason, /^slow reader/);
    // Payload alone would need 1,000 frames; with 600 bytes each, ~143.
    assert.ok(
      sent < 100_000 / (100 + FRAME_COST_BYTES) + BACKLOG_CHECK_BYTES / 700,
      `closed after ${sent} frames`,
    );
  });
  await t.step("empty echoes, which bufferedAmount never shows", async () => {
    using c = fakeConnection({
      MAX_BUFFERED_BYTES: "262144",
      RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    });
    let sent = 0;
    while (!c.metrics.breaches.has("slow_reader") && sent < 10_000) {
      c.socket.receive(new ArrayBuffer(0));
      sent++;
    }
    assert.equal((await c.closed()).code, 1008);
    assert.ok(
      sent <=
        262144 / FRAME_COST_BYTES + BACKLOG_CHECK_BYTES / FRAME_COST_BYTES,
      `closed after ${sent} empty frames`,
    );
    assert.equal(c.metrics.breaches.get("slow_reader"), 1);
  });
  await t.step(
    "an empty-message backlog's reason says what was counted, not bytes waiting",
    async () => {
      using c = fakeConnection({
        MAX_BUFFERED_BYTES: "262144",
        RATE_LIMIT_MESSAGES_PER_SECOND: "0",
      });
      // Empty echoes only: Deno shows no byte of them as waiting, so the
      // whole count is the per-frame overhead the reason must name.
      let sent = 0;
      while (!c.metrics.breaches.has("slow_reader") && sent < 10_000) {
        c.socket.receive(new ArrayBuffer(0));
        sent++;
      }
      const { code, reason } = await c.closed();
      assert.equal(code, 1008);
      assert.equal(
        reason,
        "slow reader: over 262144 bytes counted unread (payloads plus a per-frame overhead, empty echoes included)",
      );
      assert.doesNotMatch(reason, /waiting/);
    },
  );
  await t.step("a client that reads is never closed", () => {
    using c = fakeConnection({
      MAX_BUFFERED_BYTES: "100000",
      RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    });
    for (let i = 0; i < 5000; i++) c.socket.receive("x".repeat(100));
    assert.equal(c.socket.closedWith, undefined);
    assert.equal(c.socket.sent.length, 5000);
  });
});

Deno.test("/close replies to a bad command go through the one send function and its backlog check", async () => {
  using c = fakeConnection({
    MAX_BUFFERED_BYTES: "262144",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  }, { closeCommands: true });
  let sent = 0;
  while (!c.metrics.breaches.has("slow_reader") && sent < 10_000) {
    c.socket.receive("0");
    sent++;
    // Deno has queued every reply: the client reads none.
    c.socket.bufferedAmount = c.metrics.bytesOut;
  }
  assert.match(String(c.socket.sent[0]), /^Cannot close with code 0/);
  assert.equal((await c.closed()).code, 1008);
  // The reply that would pass MAX_BUFFERED_BYTES is not queued at all.
  assert.equal(c.metrics.messagesOut, sent - 1);
});

Deno.test("delayed echoes count against the backlog while they wait", async () => {
  using c = fakeConnection({
    MAX_BUFFERED_BYTES: "10000",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  }, { echo: toEchoOptions({ delay: 10_000 }) });
  for (let i = 0; i < 200 && !c.metrics.breaches.size; i++) {
    c.socket.receive("x".repeat(100));
  }
  assert.equal(c.socket.sent.length, 0, "nothing is due yet");
  assert.equal((await c.closed()).code, 1008);
});

Deno.test("the memory guard is told what a connection holds, and shedding closes it with 1013", async () => {
  const memory = new MemoryGuard({
    budgetBytes: 4 * 1024 * 1024,
    maxRssBytes: 0,
  });
  using c = fakeConnection({ MAX_BUFFERED_BYTES: "0" }, { memory });
  c.socket.bufferedAmount = 3 * 1024 * 1024;
  c.socket.receive(new ArrayBuffer(BACKLOG_CHECK_BYTES));
  const used = memory.state().usedBytes;
  assert.ok(
    used >= 3 * 1024 * 1024 + IN_FLIGHT_BYTES,
    `charged ${used} bytes: backlog, frames and messages in flight`,
  );
  assert.equal(memory.shedding, "memory_budget");
  assert.deepEqual(await c.closed(), {
    code: 1013,
    reason: "server overloaded: try again later",
  });
  assert.equal(c.metrics.breaches.get("memory_budget"), 1);
  c.socket.peerClosed(1006);
  assert.equal(
    memory.state().usedBytes,
    0,
    "a closed connection holds nothing",
  );
  assert.equal(memory.shedding, undefined);
});

Deno.test("a close is logged once with its code, limit and counts, even when Deno fires close twice", async () => {
  using c = fakeConnection({ MAX_MESSAGE_BYTES: "1" });
  c.socket.receive("too big");
  await c.closed();
  c.socket.peerClosed(1009, "message too big: limit is 1 bytes");
  c.socket.peerClosed(1009, "message too big: limit is 1 bytes");
  assert.equal(c.records.length, 1);
  assert.deepEqual(
    { ...c.records[0], durationMs: 0, closeWaitMs: 0 },
    {
      event: "ws_close",
      id: "test-1",
      ip: "192.0.2.1",
      code: 1009,
      reason: "message too big: limit is 1 bytes",
      limit: "message_size",
      // The service closed (failed) it: how long that took, no `answered`.
      closeWaitMs: 0,
      durationMs: 0,
      messages: 1,
      bytesIn: 7,
      bytesOut: 0,
    },
  );
  assert.equal(c.registry.countFor("192.0.2.1"), 0, "the slot is free");
});

Deno.test("a socket that never opens (the client reset it mid-handshake) gives its slot back after the open deadline", async () => {
  using c = fakeConnection({}, { neverOpens: 20 });
  assert.equal(c.registry.countFor("192.0.2.1"), 1, "the slot is taken");
  const deadline = Date.now() + 2000;
  while (c.records.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(c.registry.countFor("192.0.2.1"), 0, "and given back");
  assert.equal(c.records[0]?.code, 1006);
  assert.equal(c.records[0]?.reason, "the handshake never completed");
  assert.equal(c.metrics.connectionsOpen, 0, "it never counted as open");
});

Deno.test("a socket counted as leaked by the overload watch gives its slot back at once, and a late open is closed, not counted", () => {
  using c = fakeConnection({}, { neverOpens: 60_000 });
  const [[connection]] = c.registry.connections() as [[Closable, string]];
  c.registry.leak(connection);
  assert.equal(c.registry.countFor("192.0.2.1"), 0, "the slot is given back");
  assert.equal(c.registry.leaked, 1, "the descriptor counts against the cap");
  assert.equal(c.records[0]?.code, 1006);
  assert.equal(c.records[0]?.reason, "the handshake never completed");
  c.socket.open();
  assert.equal(c.metrics.connectionsOpen, 0, "it never counted as open");
  assert.equal(c.socket.readyState, WebSocket.CLOSING);
});
