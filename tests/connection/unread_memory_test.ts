/**
 * What a client that never reads leaves in the server stays counted: the
 * echoes Deno still queues for it behind the server's Close, also once the
 * close was given up, count in the memory guard's budget until Deno lets go
 * of the socket (Deno's `bufferedAmount` reads 0 once a socket is not OPEN).
 * Issue #20: 128 such clients made an `uncounted_memory` recycle that closed
 * every bystander.
 *
 * @module
 */
import assert from "node:assert/strict";
import { clientFrame, openRawWebSocket, writeAll } from "../../bench/wire.ts";
import { startTestServer } from "../_server.ts";
import { until } from "../_client.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

Deno.test("the echoes queued for a client that never reads stay charged after its close is given up, until Deno lets go", async () => {
  await using server = startTestServer({
    MAX_BUFFERED_BYTES: String(48 * MiB),
    CLOSE_TIMEOUT_SECONDS: "1",
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  });
  const { memory } = server.services;
  const { conn } = await openRawWebSocket(server.port);
  try {
    // Never read: 32 MiB of echoes fill the socket buffers (a few MiB on
    // loopback), then Deno's queue, and the Close that follows `Goodbye`
    // waits behind them, so the client never answers it.
    const message = clientFrame(0x2, new Uint8Array(512 * KiB));
    for (let i = 0; i < 64; i++) await writeAll(conn, message);
    await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("Goodbye")));
    await until(
      () => server.records.some((r) => r.event === "ws_close"),
      "the close given up (logged 1006)",
      { timeoutMs: 20_000 },
    );
    const [closed] = server.records.filter((r) => r.event === "ws_close");
    assert.equal(closed?.code, 1006, JSON.stringify(closed));
    assert.equal(server.services.metrics.closesUnanswered, 1);
    // Deno still holds the unread echoes: they stay in the budget.
    assert.ok(
      memory.state().usedBytes >= MiB,
      `${memory.state().usedBytes} bytes charged after the close was given up`,
    );
    conn.close();
    await until(
      () => memory.state().usedBytes === 0,
      "the charge to go once Deno lets go of the socket",
      { timeoutMs: 20_000 },
    );
    assert.equal(server.services.metrics.closesUnanswered, 0);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed above.
    }
  }
});
