/**
 * A slow reader closed for its backlog that then reads up to the Close and
 * answers it has taken everything Deno queued: what it held leaves the
 * memory budget at once, where the process cannot destroy sockets too (no
 * CAP_NET_ADMIN). The service closes the TCP connection first, so the
 * kernel keeps its side in TIME-WAIT for 60 s, holding nothing; counted
 * until that was over, a room's senders kept up to 28 MiB of the budget
 * taken for a minute after every client had gone (issue #20).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  clientFrame,
  closeCode,
  FrameReader,
  openRawWebSocket,
  withDeadline,
  writeAll,
} from "../../bench/wire.ts";
import { until } from "../_client.ts";
import {
  type LogRecord,
  MiB,
  serviceEvidence,
  startAttacked,
} from "./_overload.ts";
import { heldReadBytes } from "../../lib/connection/backlog.ts";

/** `/healthz`'s `memory.usedBytes`. */
async function usedBytes(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = await response.json() as { memory: { usedBytes: number } };
  return body.memory.usedBytes;
}

/** `ws_echo_limit_breaches_total{reason="slow_reader"}` from `/metrics`. */
async function slowReaderCloses(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(5000),
  })).text();
  const line = /^ws_echo_limit_breaches_total\{reason="slow_reader"\} (\d+)$/m
    .exec(text);
  return Number(line?.[1] ?? 0);
}

/** Polls `/healthz` until `found(usedBytes)`; throws past `timeoutMs`. */
async function untilUsed(
  port: number,
  found: (used: number) => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let used = await usedBytes(port);
  while (!found(used)) {
    assert.ok(
      performance.now() < deadline,
      `${what}: usedBytes ${used} after ${timeoutMs} ms`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    used = await usedBytes(port);
  }
}

Deno.test("a room member closed for its backlog that reads up to its Close and answers it stops counting against the budget at once, though its socket stays in TIME-WAIT", async () => {
  await using service = await startAttacked({
    MAX_BUFFERED_BYTES: String(MiB),
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    // The reader answers no ping (it reads only after the backlog is
    // counted): Deno's ping timeout would drop it 1001 if the 1008 came
    // later than PING_INTERVAL_SECONDS, as at load 34 (32 s). Not this
    // test's rule.
    PING_INTERVAL_SECONDS: "0",
  }, { withoutAbort: true });
  const { port } = service;
  const path = "/room/time-wait";
  const reader = await openRawWebSocket(port, { path });
  const sender = await openRawWebSocket(port, { path });
  const peer = reader.conn.localAddr as Deno.NetAddr;
  try {
    // The reader sends nothing and does not read yet: 24 MiB relayed to it
    // are more than the loopback buffers take, so they pile up in Deno and
    // the service closes it (1008), keeping what it holds counted.
    const message = clientFrame(0x2, new Uint8Array(512 * 1024));
    for (let i = 0; i < 48; i++) await writeAll(sender.conn, message);
    // Until the service has decided to close it: a client that reads
    // before that is a reader, and is kept (on a busy machine the decision
    // came after the reads began, and no Close ever came).
    const deadline = performance.now() + 20_000;
    while (await slowReaderCloses(port) === 0) {
      assert.ok(
        performance.now() < deadline,
        `no slow_reader close within 20000 ms; ${await serviceEvidence(
          port,
          service.records,
        )}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(await usedBytes(port) > 0, "the backlog is counted");
    // Now it reads everything, up to the Close, and answers it.
    let code: number | undefined;
    let reason = "";
    const frames = new FrameReader((opcode, payload) => {
      if (opcode === 0x8) {
        code = closeCode(payload);
        reason = new TextDecoder().decode(payload?.subarray(2));
      }
    });
    frames.push(reader.leftover);
    const buffer = new Uint8Array(256 * 1024);
    while (code === undefined) {
      const n = await withDeadline(
        reader.conn.read(buffer),
        20_000,
        "the member's frames",
      );
      assert.notEqual(n, null, "the connection ended before its Close");
      frames.push(buffer.subarray(0, n!));
    }
    if (code !== 1008) {
      assert.fail(
        `closed with ${code} "${reason}", not 1008; ${await serviceEvidence(
          port,
          service.records,
        )}`,
      );
    }
    await writeAll(reader.conn, clientFrame(0x8, Uint8Array.of(0x03, 0xe8)));
    // The service ends the TCP connection first: its side stays in
    // TIME-WAIT, which holds nothing.
    while (
      await withDeadline(reader.conn.read(buffer), 20_000, "the end") !== null
    ) {
      // Whatever came after the Close.
    }
    reader.conn.close();
    await until(
      () =>
        service.records.some((record: LogRecord) =>
          record.event === "ws_close" && record.limit === "slow_reader"
        ),
      "the member's close logged",
      { timeoutMs: 20_000 },
    );
    const timeWait = new TextDecoder().decode(
      (await new Deno.Command("ss", {
        args: ["-tnH", "state", "time-wait", `( sport = :${port} )`],
      }).output()).stdout,
    );
    assert.ok(
      timeWait.includes(`:${peer.port}`),
      `the service's side is in TIME-WAIT: ${timeWait}`,
    );
    // TIME-WAIT lasts 60 s: a charge kept until it ends fails this. The
    // sender, still here, holds what Deno keeps for its messages.
    const senderHolds = heldReadBytes(512 * 1024);
    await untilUsed(
      port,
      (used) => used === senderHolds,
      "nothing counted once the member has gone but the sender's read buffer",
      15_000,
    );
  } finally {
    for (const { conn } of [reader, sender]) {
      try {
        conn.close();
      } catch {
        // Closed by the service.
      }
    }
  }
});
