/**
 * An honest client that sends complete messages and reads every echo is
 * not closed while clients that never read fill the memory budget (issue
 * #20, stranger19 F2: beside 128 such clients of 1 MiB, 2 or 3 of 3 honest
 * readers were closed 1013 in each of 8 runs). A client that never reads
 * drains into the kernel's buffers as a reader does, so by Deno's count it
 * looked like one; the kernel's acknowledgements tell them apart
 * (`lib/connection/peer_acks.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, until } from "../_client.ts";
import { startTestServer } from "../_server.ts";
import { clientFrame, openRawWebSocket, writeAll } from "../../bench/wire.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** Small, so a few clients that never read fill it. */
const BUDGET_BYTES = 12 * MiB;
const NON_READERS = 4;
/** What each client that never reads sends, every `NON_READER_MS`. */
const NON_READER_BYTES = MiB;
/** Under RATE_LIMIT_BYTES_PER_SECOND (4 MiB/s), which is not the subject. */
const NON_READER_MS = 300;
/** The honest client's messages, two in flight, one every `READER_MS` at most. */
const READER_BYTES = 256 * KiB;
const READER_MS = 100;
/** How long the clients that never read go on, in ms. */
const ATTACK_MS = 6000;

/**
 * A client that never reads: sends `NON_READER_BYTES` messages until
 * `stop`, and opens another connection when one is closed or refused.
 * Resolves with the connections it made.
 */
async function neverReads(port: number, stop: AbortSignal): Promise<number> {
  const message = clientFrame(0x2, new Uint8Array(NON_READER_BYTES));
  let connections = 0;
  while (!stop.aborted) {
    let conn: Deno.TcpConn | undefined;
    try {
      ({ conn } = await openRawWebSocket(port, { timeoutMs: 5000 }));
      connections++;
      const closeOnStop = () => conn?.close();
      stop.addEventListener("abort", closeOnStop, { once: true });
      try {
        while (!stop.aborted) {
          await writeAll(conn, message);
          await new Promise((resolve) => setTimeout(resolve, NON_READER_MS));
        }
      } finally {
        stop.removeEventListener("abort", closeOnStop);
      }
    } catch {
      // Refused (503), closed or reset: again, as an attacker would.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    try {
      conn?.close();
    } catch {
      // Closed on stop.
    }
  }
  return connections;
}

Deno.test("an honest reader is not closed while clients that never read fill the memory budget", async (t) => {
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(BUDGET_BYTES),
    // Every client is 127.0.0.1 here.
    MAX_CONNECTIONS_PER_IP: "0",
    // Deno's ping timeout is not the subject.
    PING_INTERVAL_SECONDS: "0",
  }, { kernelCheck: true });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  let sent = 0;
  let echoed = 0;
  let closedWith = "";
  socket.addEventListener("close", (event) => {
    closedWith = `${event.code} "${event.reason}"`;
  });
  const send = () => {
    socket.send(new Uint8Array(READER_BYTES).fill(++sent % 251));
  };
  // Reads every echo; sends the next at most every READER_MS, so two are
  // in flight at a time. Ends with the socket's close (an error).
  const reading = (async () => {
    let lastSent = performance.now();
    for (;;) {
      const echo = await inbox.next({ timeoutMs: 20_000 });
      assert.ok(echo instanceof ArrayBuffer, "a binary echo");
      assert.equal(echo.byteLength, READER_BYTES);
      echoed++;
      const wait = lastSent + READER_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (socket.readyState !== WebSocket.OPEN) return;
      send();
      lastSent = performance.now();
    }
  })().catch((error: Error) => error);
  send();
  send();
  await t.step("the reader alone: 20 echoes", async () => {
    await until(() => echoed >= 20, "20 echoes", { timeoutMs: 20_000 });
  });
  const acks = server.services.acks;
  if (acks) {
    await t.step("the kernel's readings find the reader acking", async () => {
      await until(
        () =>
          server.services.registry.connections().some(([connection]) => {
            const peer = connection.activity?.().peer;
            return peer !== undefined &&
              acks.said(peer, performance.now()) === "acking";
          }),
        "the reader to be acking",
        { timeoutMs: 20_000 },
      );
    });
  }
  const stop = new AbortController();
  const attackers = Array.from(
    { length: NON_READERS },
    () => neverReads(server.port, stop.signal),
  );
  await t.step(
    `beside ${NON_READERS} clients that never read, at a ${
      BUDGET_BYTES / MiB
    } MiB budget, the reader keeps its connection and every echo`,
    async () => {
      await until(
        () => server.services.memory.state().shed.memory_budget >= 1,
        "the budget to shed",
        { timeoutMs: 20_000 },
      );
      const from = echoed;
      await new Promise((resolve) => setTimeout(resolve, ATTACK_MS));
      stop.abort();
      const connections = await Promise.all(attackers);
      assert.ok(
        connections.reduce((a, b) => a + b, 0) >= NON_READERS,
        "the clients that never read connected",
      );
      const closes =
        server.records.filter((record) =>
          record.event === "ws_close" && record.limit === "memory_budget"
        ).length;
      assert.ok(closes >= 1, "clients that never read were shed");
      assert.equal(
        socket.readyState,
        WebSocket.OPEN,
        `the reader is open (closed ${closedWith} after ${echoed} echoes)`,
      );
      assert.ok(echoed > from, `echoes after the shed: ${echoed - from}`);
    },
  );
  socket.close(1000);
  await reading;
  await inbox.closed({ timeoutMs: 10_000 });
  stop.abort();
  await Promise.all(attackers);
});
