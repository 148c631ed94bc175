import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect, until } from "../_client.ts";
import {
  openRawWebSocket,
  rawRequest,
  readFrame,
  upgradeRequest,
} from "../../bench/wire.ts";

/** The sequence number a binary /stream message starts with. */
function binarySeq(data: ArrayBuffer): number {
  return new DataView(data).getUint32(0);
}

Deno.test("a plain GET of /stream answers 426 describing server push, not an echo", async () => {
  await using server = startTestServer();
  const response = await fetch(`${server.http}/stream`);
  assert.equal(response.status, 426);
  const body = await response.text();
  assert.match(body, /\/stream is a WebSocket server push/);
  assert.doesNotMatch(body, /echo endpoint|ws\.send/);
});

Deno.test("/stream sends count numbered messages of size bytes, then closes 1000", async (t) => {
  await using server = startTestServer();
  await t.step("text: in order, each starting with its number", async () => {
    const { inbox } = await connect(
      `${server.ws}/stream?count=5&size=16&interval=0`,
    );
    const messages = await inbox.take(5);
    assert.deepEqual(
      messages,
      [1, 2, 3, 4, 5].map((seq) => `${seq} `.padEnd(16, "x")),
    );
    const close = await inbox.closed();
    assert.deepEqual([close.code, close.reason], [1000, "stream complete"]);
    assert.equal(inbox.pending, 0);
  });
  await t.step("binary: a 32-bit big-endian number, then zeros", async () => {
    const { inbox } = await connect(
      `${server.ws}/stream?count=3&size=100&type=binary&interval=0`,
    );
    const messages = await inbox.take(3) as ArrayBuffer[];
    assert.deepEqual(messages.map((data) => data.byteLength), [100, 100, 100]);
    assert.deepEqual(messages.map(binarySeq), [1, 2, 3]);
    assert.ok(new Uint8Array(messages[2]!).subarray(4).every((b) => b === 0));
    assert.equal((await inbox.closed()).code, 1000);
  });
  await t.step("the defaults: 10 text messages of 32 bytes", async () => {
    // interval is the only default not taken: a second per message is slow.
    const { inbox } = await connect(`${server.ws}/stream?interval=0`);
    const messages = await inbox.take(10) as string[];
    assert.deepEqual(messages.map((text) => text.length), Array(10).fill(32));
    assert.equal(messages[9]!.slice(0, 3), "10 ");
    assert.equal((await inbox.closed()).code, 1000);
  });
  await t.step("size 0 and sizes shorter than the number", async () => {
    const { inbox } = await connect(
      `${server.ws}/stream?count=12&size=1&interval=0`,
    );
    const messages = await inbox.take(12);
    assert.equal(messages[0], "1");
    assert.equal(messages[11], "1", "12 cut to its first byte");
    const empty = await connect(
      `${server.ws}/stream?count=2&size=0&interval=0`,
    );
    assert.deepEqual(await empty.inbox.take(2), ["", ""]);
    assert.equal((await empty.inbox.closed()).code, 1000);
  });
  await t.step("messages sent meanwhile are echoed", async () => {
    const { socket, inbox } = await connect(
      `${server.ws}/stream?count=2&size=8&interval=300`,
    );
    assert.equal(await inbox.next(), "1 xxxxxx");
    socket.send("mine");
    assert.equal(await inbox.next(), "mine");
    assert.equal(await inbox.next(), "2 xxxxxx");
    assert.equal((await inbox.closed()).code, 1000);
  });
});

Deno.test("/stream sends one message every interval ms", async () => {
  await using server = startTestServer();
  const { inbox } = await connect(
    `${server.ws}/stream?count=6&size=8&interval=150`,
  );
  const arrivals: number[] = [];
  for (let i = 0; i < 6; i++) {
    await inbox.next();
    arrivals.push(performance.now());
  }
  const span = arrivals[5]! - arrivals[0]!;
  // Five intervals of 150 ms; the upper bound is generous for a busy machine.
  assert.ok(span >= 5 * 150 - 30, `6 messages took ${span} ms`);
  assert.ok(span < 5 * 150 + 3000, `6 messages took ${span} ms`);
  assert.equal((await inbox.closed({ timeoutMs: 5000 })).code, 1000);
});

Deno.test("/stream sends no faster than RATE_LIMIT_BYTES_PER_SECOND once its burst is spent", async () => {
  // A burst of one message, then 32 KiB/s: one 16 KiB message every 500 ms.
  await using server = startTestServer({
    MAX_MESSAGE_BYTES: "16384",
    RATE_LIMIT_BYTE_BURST: "16384",
    RATE_LIMIT_BYTES_PER_SECOND: "32768",
  });
  // Timed from before the upgrade: the bucket fills no earlier, so the
  // sixth message cannot arrive sooner than 5 × 500 ms after this, however
  // late a busy machine delivers the first.
  const before = performance.now();
  const { inbox } = await connect(
    `${server.ws}/stream?count=6&size=16384&type=binary&interval=0`,
  );
  for (let i = 1; i <= 6; i++) {
    const data = await inbox.next({ timeoutMs: 10_000 });
    assert.equal(binarySeq(data as ArrayBuffer), i);
  }
  const span = performance.now() - before;
  assert.ok(span >= 5 * 500 - 30, `6 messages took ${span} ms`);
  assert.equal((await inbox.closed({ timeoutMs: 5000 })).code, 1000);
  assert.equal(server.services.metrics.breaches.size, 0, "no limit closed it");
});

Deno.test("/streams to one address share RATE_LIMIT_BYTES_PER_SECOND", async () => {
  // Two streams of three 16 KiB messages from 127.0.0.1: 96 KiB in all,
  // a 16 KiB burst, then 32 KiB/s between them: 2.5 s, not 1 s each.
  await using server = startTestServer({
    MAX_MESSAGE_BYTES: "16384",
    RATE_LIMIT_BYTE_BURST: "16384",
    RATE_LIMIT_BYTES_PER_SECOND: "32768",
  });
  const url = `${server.ws}/stream?count=3&size=16384&type=binary&interval=0`;
  const before = performance.now(); // see the test above
  const streams = await Promise.all([connect(url), connect(url)]);
  const arrivals: number[] = [];
  await Promise.all(streams.map(async ({ inbox }) => {
    for (let i = 1; i <= 3; i++) {
      const data = await inbox.next({ timeoutMs: 10_000 });
      assert.equal(binarySeq(data as ArrayBuffer), i);
      arrivals.push(performance.now());
    }
    assert.equal((await inbox.closed({ timeoutMs: 5000 })).code, 1000);
  }));
  const span = Math.max(...arrivals) - before;
  assert.ok(span >= 5 * 500 - 30, `6 messages took ${span} ms`);
});

Deno.test("/stream waits for a client that reads slowly, without closing it", async () => {
  const maxBuffered = 256 * 1024;
  const size = 64 * 1024;
  // 12 MiB: three times what loopback held unread here (63 messages, 4 MiB,
  // with tcp_rmem's max at 32 MiB); 48 MiB took 8 s of CI to read back.
  const count = 192;
  await using server = startTestServer({
    MAX_BUFFERED_BYTES: String(maxBuffered),
    // Deno's keepalive ping would come between the stream's frames once the
    // test runs past its interval (a busy machine: opcode 9 where the reader
    // below expects 2); this test is about the stream, not pings.
    PING_INTERVAL_SECONDS: "0",
  });
  const { conn, leftover } = await openRawWebSocket(server.port, {
    path: `/stream?count=${count}&size=${size}&type=binary&interval=0`,
  });
  try {
    const { metrics, memory } = server.services;
    // Not reading: the stream fills what the kernel and MAX_BUFFERED_BYTES
    // hold, then stops sending.
    let sent = -1;
    let changedAt = performance.now();
    await until(
      () => {
        if (metrics.messagesOut !== sent) {
          sent = metrics.messagesOut;
          changedAt = performance.now();
        }
        return sent > 0 && performance.now() - changedAt > 500;
      },
      "the stream to stop sending to a client that does not read",
      {
        timeoutMs: 20_000,
      },
    );
    assert.ok(sent < count, `the stream waited after ${sent} of ${count}`);
    assert.equal(metrics.breaches.size, 0, "no limit closed the client");
    // The stream's backlog counts against MEMORY_BUDGET_BYTES: it is
    // charged, as the backlog plus messages in flight once behind (1 MiB).
    assert.ok(memory.state().usedBytes > 0, "the backlog is charged");
    assert.ok(
      memory.state().usedBytes <= maxBuffered + 1024 * 1024,
      `${memory.state().usedBytes} bytes charged`,
    );
    // Now read every message: all arrive, in order, then the close.
    let rest = leftover;
    for (let seq = 1; seq <= count; seq++) {
      const frame = await readFrame(conn, {
        leftover: rest,
        timeoutMs: 20_000,
      });
      rest = frame.rest;
      assert.equal(frame.opcode, 0x2);
      assert.equal(frame.payload.length, size);
      assert.equal(
        new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(
          0,
        ),
        seq,
      );
    }
    const close = await readFrame(conn, { leftover: rest, timeoutMs: 20_000 });
    assert.equal(close.opcode, 0x8);
    assert.equal(
      new DataView(close.payload.buffer, close.payload.byteOffset).getUint16(0),
      1000,
    );
    assert.equal(
      new TextDecoder().decode(close.payload.subarray(2)),
      "stream complete",
    );
    assert.equal(metrics.breaches.size, 0);
  } finally {
    conn.close();
  }
});

Deno.test("/stream options are validated, and only /stream takes them", async (t) => {
  await using server = startTestServer({ MAX_MESSAGE_BYTES: "1000" });
  const cases: Array<[path: string, expected: RegExp]> = [
    [
      "/stream?count=0",
      /^Invalid option "count": expected an integer 1-100000/,
    ],
    [
      "/stream?count=100001",
      /^Invalid option "count": expected an integer 1-100000/,
    ],
    [
      "/stream?size=1001",
      /^Invalid option "size": expected an integer 0-1000 \(MAX_MESSAGE_BYTES\)/,
    ],
    [
      "/stream?size=-1",
      /^Invalid option "size": expected an integer 0-1000 \(MAX_MESSAGE_BYTES\)\n/,
    ],
    ["/stream?type=json", /^Invalid option "type": expected text or binary/],
    [
      "/stream?type=text&type=text",
      /^Invalid option "type": given twice; expected text or binary, once\n/,
    ],
    [
      "/stream?interval=60001",
      /^Invalid option "interval": expected an integer 0-60000/,
    ],
    ["/echo?count=5", /^Invalid option "count": only applies to \/stream/],
    ["/?interval=5", /^Invalid option "interval": only applies to \/stream/],
  ];
  for (const [path, expected] of cases) {
    await t.step(`${path} -> 400`, async () => {
      const response = await rawRequest(server.port, upgradeRequest(path));
      assert.equal(response.status, 400);
      assert.match(response.body, expected);
    });
  }
});

Deno.test("/stream with size=0 sends at most what fits unread under MAX_BUFFERED_BYTES", async (t) => {
  // (65,536 - 1,200) / 600 = 107: bufferedAmount does not count empty
  // frames, so each counts as 600 bytes unread until a non-empty one is sent.
  await using server = startTestServer({ MAX_BUFFERED_BYTES: "65536" });
  await t.step("107 empty messages arrive, then the close", async () => {
    const { inbox } = await connect(
      `${server.ws}/stream?count=107&size=0&interval=0`,
    );
    const messages = await inbox.take(107);
    assert.ok(messages.every((message) => message === ""));
    const close = await inbox.closed({ timeoutMs: 10_000 });
    assert.deepEqual([close.code, close.reason], [1000, "stream complete"]);
  });
  await t.step("108 are refused with 400 naming count", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/stream?count=108&size=0"),
    );
    assert.equal(response.status, 400);
    assert.match(
      response.body,
      /^Invalid option "count": expected an integer 1-107 with size=0/,
    );
  });
});
