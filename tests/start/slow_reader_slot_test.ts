/**
 * A client closed 1008 for not reading keeps its slot taken while its
 * socket may still hold a descriptor (Deno cannot abort stuck writes,
 * denoland/deno#25126), but not once the kernel no longer has the socket:
 * held for SLOW_READER_SLOT_HOLD_MS after it had gone, 60 such slots
 * refused honest newcomers with 503 for a minute under `prlimit
 * --nofile=256` (issue #20, bench/attacks/refused.sh).
 *
 * @module
 */
import assert from "node:assert/strict";
import { clientFrame, openRawWebSocket, writeAll } from "../../bench/wire.ts";
import { until } from "../_client.ts";
import { CAN_ABORT, type LogRecord, MiB, startAttacked } from "./_overload.ts";

/** `/healthz`'s `cap.taken`: slots in use, held ones included. */
async function capTaken(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = await response.json() as { cap: { taken: number } };
  return body.cap.taken;
}

/** Polls `/healthz` until `cap.taken` is `taken`; throws past `timeoutMs`. */
async function untilTaken(
  port: number,
  taken: number,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let now = await capTaken(port);
  while (now !== taken) {
    assert.ok(
      performance.now() < deadline,
      `${what}: cap.taken ${now} after ${timeoutMs} ms`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    now = await capTaken(port);
  }
}

type Attacked = Awaited<ReturnType<typeof startAttacked>>;

/**
 * Opens a client that sends two 4 MiB messages at once and never reads: their
 * echoes are over what the kernel's buffers take (about 4 MiB on loopback)
 * plus MAX_BUFFERED_BYTES, so the service closes it 1008 (`slow_reader`) and
 * holds its socket for the kernel to abort. Nothing more is sent: a frame
 * after the Close would make Deno drop the connection itself.
 */
async function closedNonReader(service: Attacked): Promise<Deno.TcpConn> {
  const { conn } = await openRawWebSocket(service.port);
  const message = clientFrame(0x2, new Uint8Array(4 * MiB));
  const both = new Uint8Array(2 * message.length);
  both.set(message);
  both.set(message, message.length);
  await writeAll(conn, both);
  await until(
    () => service.records.some((record) => record.event === "sockets_aborted"),
    "the kernel asked to abort the non-reader's socket",
    { timeoutMs: 20_000 },
  );
  return conn;
}

const ENV = {
  MAX_BUFFERED_BYTES: String(256 * 1024),
  MAX_MESSAGE_BYTES: String(4 * MiB),
  RATE_LIMIT_BYTES_PER_SECOND: "0",
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
};

Deno.test("a non-reader closed 1008 keeps its slot while its socket is there and frees it within seconds once the kernel no longer has it", async (t) => {
  await t.step(
    "without CAP_NET_ADMIN: held while the client stays, freed once it disconnects",
    async () => {
      await using service = await startAttacked(ENV, { withoutAbort: true });
      const conn = await closedNonReader(service);
      try {
        // The kernel was asked to abort it and could not: the socket, and
        // Deno's descriptor for it, are still there, so is the slot.
        const left = service.records.find((record: LogRecord) =>
          record.event === "sockets_aborted"
        );
        assert.equal(left?.left, 1, "the kernel left the socket there");
        assert.equal(await capTaken(service.port), 1, "the slot is held");
      } finally {
        // Echoes unread in its receive buffer: the kernel resets it.
        conn.close();
      }
      await untilTaken(
        service.port,
        0,
        "the slot freed once the client has gone",
        10_000,
      );
    },
  );

  await t.step({
    name: "with CAP_NET_ADMIN: freed once the kernel aborted it",
    ignore: !CAN_ABORT,
    fn: async () => {
      await using service = await startAttacked(ENV);
      const conn = await closedNonReader(service);
      try {
        await untilTaken(
          service.port,
          0,
          "the slot freed once its socket was aborted",
          10_000,
        );
      } finally {
        conn.close();
      }
    },
  });
});
