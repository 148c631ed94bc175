/**
 * The closing handshake the service starts (RFC 6455 §5.5.1, §7.1.1): a
 * client with messages in flight still gets the server's Close frame, and
 * the TCP connection ends only after the client's Close.
 *
 * @module
 */
import assert from "node:assert/strict";
import { clientRace, CLOSE_CASES, rawRace } from "../../bench/close_race.ts";
import {
  clientFrame,
  CLOSE_1000,
  closeCode,
  FrameReader,
  openRawWebSocket,
  withDeadline,
  writeAll,
} from "../../bench/wire.ts";
import { startTestServer } from "../_server.ts";

/** Connections per case: before the fix, about one in four missed the Close. */
const RUNS = 30;
const TIMEOUT_MS = 20_000;

/** Messages each case's client receives before the Close. */
const MESSAGES: Record<string, number> = {
  "/echo": 1,
  "/echo?close_after=1": 1,
  "/stream?count=2&interval=0": 2,
};

Deno.test("a client still sending after the message that closes gets the Close frame every time", async (t) => {
  await using server = startTestServer();
  for (const closeCase of CLOSE_CASES) {
    await t.step(
      `${closeCase.path} after "${closeCase.trigger}", raw client`,
      async () => {
        const codes: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const outcome = await rawRace(server.port, closeCase, TIMEOUT_MS);
          codes.push(outcome.code);
          assert.equal(outcome.afterClose, 0, `run ${i}: data after Close`);
          assert.ok(
            outcome.messages >= MESSAGES[closeCase.path]!,
            `run ${i}: ${outcome.messages} messages`,
          );
        }
        assert.deepEqual(codes, Array(RUNS).fill(closeCase.code));
      },
    );
    await t.step(
      `${closeCase.path} after "${closeCase.trigger}", Deno's WebSocket`,
      async () => {
        const codes: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          codes.push(
            (await clientRace(server.port, closeCase, TIMEOUT_MS)).code,
          );
        }
        assert.deepEqual(codes, Array(RUNS).fill(closeCase.code));
      },
    );
  }
  await server.allClosed({ timeoutMs: TIMEOUT_MS });
  const closes = server.records.filter((record) => record.event === "ws_close");
  assert.equal(
    closes.length,
    CLOSE_CASES.length * RUNS * 2,
    "one close line per connection",
  );
  assert.deepEqual(
    new Set(closes.map((record) => record.code)),
    new Set([1000]),
  );
});

/**
 * Opens a raw `/echo`, says "Goodbye", reads the echo and the server's Close,
 * then keeps sending `frames` text frames (one macrotask apart) without ever
 * answering; resolves with how the TCP connection ended and how many frames
 * went out first.
 */
async function neverAnswer(
  port: number,
  frames: number,
): Promise<{ close: number; sent: number }> {
  const { conn, leftover } = await openRawWebSocket(port);
  let close = 0;
  let sent = 0;
  const reader = new FrameReader((opcode, payload) => {
    if (opcode === 0x8) close = closeCode(payload);
  });
  reader.push(leftover);
  const encoder = new TextEncoder();
  try {
    await writeAll(conn, clientFrame(0x1, encoder.encode("Goodbye")));
    const buffer = new Uint8Array(4096);
    const ended = (async () => {
      for (;;) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) return;
        reader.push(buffer.subarray(0, n));
      }
    })();
    let gone = false;
    ended.then(() => gone = true);
    while (!gone && sent < frames) {
      await new Promise((resolve) => setTimeout(resolve, close ? 20 : 0));
      if (!close) continue;
      await writeAll(conn, clientFrame(0x1, encoder.encode("still here")))
        .then(() => sent++, () => gone = true);
    }
    await withDeadline(ended, TIMEOUT_MS, "the server to end the connection");
    return { close, sent };
  } finally {
    conn.close();
  }
}

Deno.test("a client that keeps sending after the server's Close and never answers it", async (t) => {
  await t.step(
    "is dropped once CLOSE_TIMEOUT_SECONDS have passed",
    async () => {
      await using server = startTestServer({ CLOSE_TIMEOUT_SECONDS: "1" });
      // 20 ms apart: the 1 s timeout is over long before the last frame.
      const { close, sent } = await neverAnswer(server.port, 5_000);
      assert.equal(close, 1000);
      assert.ok(
        sent < 5_000,
        `${sent} frames sent before the connection ended`,
      );
      await server.allClosed({ timeoutMs: TIMEOUT_MS });
      const [record] = server.records.filter((r) => r.event === "ws_close");
      assert.equal(record?.code, 1006);
      assert.match(String(record?.reason), /^close timeout/);
    },
  );

  await t.step(
    "is dropped at once when it runs past the message rate",
    async () => {
      await using server = startTestServer({
        RATE_LIMIT_MESSAGES_PER_SECOND: "1",
        RATE_LIMIT_MESSAGE_BURST: "3",
        CLOSE_TIMEOUT_SECONDS: "3600",
      });
      const { close, sent } = await neverAnswer(server.port, 5_000);
      assert.equal(close, 1000);
      assert.ok(
        sent < 5_000,
        `${sent} frames sent before the connection ended`,
      );
      await server.allClosed({ timeoutMs: TIMEOUT_MS });
    },
  );
});

Deno.test("the server answers nothing more after the client's Close", async () => {
  await using server = startTestServer();
  const { conn, leftover } = await openRawWebSocket(server.port);
  try {
    const frames: number[] = [];
    const reader = new FrameReader((opcode) => frames.push(opcode));
    reader.push(leftover);
    await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("Goodbye")));
    const buffer = new Uint8Array(4096);
    await withDeadline(
      (async () => {
        while (!frames.includes(0x8)) {
          const n = await conn.read(buffer);
          if (n === null) return;
          reader.push(buffer.subarray(0, n));
        }
        await writeAll(conn, CLOSE_1000);
        for (;;) {
          const n = await conn.read(buffer).catch(() => null);
          if (n === null) return;
          reader.push(buffer.subarray(0, n));
        }
      })(),
      TIMEOUT_MS,
      "the closing handshake",
    );
    // One echo, one Close: no second Close after the client's (deno#21642).
    assert.deepEqual(frames, [0x1, 0x8]);
  } finally {
    conn.close();
  }
  await server.allClosed({ timeoutMs: TIMEOUT_MS });
});
