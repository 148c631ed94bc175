import assert from "node:assert/strict";
import { ConnectionRegistry, type Lease } from "../../lib/admission/slots.ts";
import { startTestServer, type TestServer } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";
import {
  clientFrame,
  openRawWebSocket,
  rawRequest,
  upgradeRequest,
  writeAll,
} from "../../bench/wire.ts";

/** A well-behaved client on another connection still gets its echo. */
async function assertBystanderEchoes(server: TestServer) {
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("bystander");
  assert.equal(await inbox.next(), "bystander");
  await closeAndWait(socket, inbox);
}

function closeLines(server: TestServer, limit: string) {
  return server.logs.filter((line) => line.includes(`limit=${limit}`));
}

Deno.test("a message over MAX_MESSAGE_BYTES is not echoed and closes with 1009", async () => {
  await using server = startTestServer({ MAX_MESSAGE_BYTES: "1024" });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("x".repeat(1024));
  assert.equal(
    await inbox.next(),
    "x".repeat(1024),
    "exactly the limit is echoed",
  );
  socket.send(new Uint8Array(1025));
  const close = await inbox.closed();
  assert.equal(close.code, 1009);
  assert.equal(close.reason, "message too big: limit is 1024 bytes");
  assert.equal(inbox.pending, 0, "the oversize message was not echoed");
  await assertBystanderEchoes(server);
  assert.equal(server.services.metrics.breaches.get("message_size"), 1);
});

Deno.test("text size is measured in UTF-8 bytes, not characters", async () => {
  await using server = startTestServer({ MAX_MESSAGE_BYTES: "10" });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("é".repeat(6)); // 6 characters, 12 bytes
  assert.equal((await inbox.closed()).code, 1009);
});

Deno.test("a client that never reads is closed before the server buffers more than MAX_BUFFERED_BYTES", async () => {
  await using server = startTestServer({
    MAX_BUFFERED_BYTES: String(4 * 1024 * 1024),
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  });
  const rssBefore = Deno.memoryUsage().rss;
  const { conn } = await openRawWebSocket(server.port);

  // Send 64 KiB binary frames as fast as possible and never read the echoes.
  const frame = clientFrame(0x2, new Uint8Array(64 * 1024));
  let sentBytes = 0;
  const writer = (async () => {
    try {
      while (sentBytes < 1024 * 1024 * 1024) {
        await writeAll(conn, frame);
        sentBytes += 64 * 1024;
      }
    } catch {
      // The connection is closed below while a write is stuck.
    }
  })();
  await until(
    () => server.services.metrics.breaches.get("slow_reader") === 1,
    "slow reader closed",
    { timeoutMs: 20_000 },
  );
  const growthMiB = (Deno.memoryUsage().rss - rssBefore) / (1024 * 1024);
  assert.ok(growthMiB < 64, `RSS grew ${growthMiB.toFixed(1)} MiB`);
  assert.ok(
    sentBytes < 64 * 1024 * 1024,
    `server stopped reading after ${sentBytes} bytes`,
  );
  await assertBystanderEchoes(server);
  conn.close();
  await writer;
  assert.equal(closeLines(server, "slow_reader").length, 1, "logged once");
});

Deno.test("sending faster than the message rate closes with 1008 naming the limit", async () => {
  await using server = startTestServer({
    RATE_LIMIT_MESSAGES_PER_SECOND: "10",
    RATE_LIMIT_MESSAGE_BURST: "5",
  });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  for (let i = 0; i < 20; i++) socket.send(`m${i}`);
  const close = await inbox.closed();
  assert.equal(close.code, 1008);
  assert.equal(close.reason, "message rate limit: over 10 messages/s");
  assert.equal(inbox.pending, 5, "the burst was echoed, nothing after it");
  await assertBystanderEchoes(server);
  await server.allClosed();
  assert.equal(
    closeLines(server, "message_rate").length,
    1,
    "logged once, not once per message",
  );
});

Deno.test("sending more bytes than the byte rate closes with 1008 naming the limit", async () => {
  await using server = startTestServer({
    RATE_LIMIT_BYTES_PER_SECOND: "1000",
    RATE_LIMIT_BYTE_BURST: "2000",
    MAX_MESSAGE_BYTES: "2000",
  });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  for (let i = 0; i < 3; i++) socket.send(new Uint8Array(1000));
  const close = await inbox.closed();
  assert.equal(close.code, 1008);
  assert.equal(close.reason, "byte rate limit: over 1000 bytes/s");
  await assertBystanderEchoes(server);
});

Deno.test("MAX_CONNECTIONS_PER_IP refuses with 429 and Retry-After until one closes", async () => {
  await using server = startTestServer({ MAX_CONNECTIONS_PER_IP: "2" });
  const first = await connect(`${server.ws}/echo`);
  const second = await connect(`${server.ws}/echo`);
  const refused = await rawRequest(server.port, upgradeRequest());
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.match(
    refused.body,
    /Too many connections from 127\.0\.0\.1: at most 2/,
  );
  await closeAndWait(first.socket, first.inbox);
  await until(
    () => server.services.registry.countFor("127.0.0.1") === 1,
    "slot released",
  );
  const third = await connect(`${server.ws}/echo`);
  third.socket.send("third");
  assert.equal(await third.inbox.next(), "third");
  await closeAndWait(second.socket, second.inbox);
  await closeAndWait(third.socket, third.inbox);
});

Deno.test("MAX_CONNECTIONS refuses with 503 when the server is full", async () => {
  await using server = startTestServer({ MAX_CONNECTIONS: "1" });
  const only = await connect(`${server.ws}/echo`);
  const refused = await rawRequest(server.port, upgradeRequest());
  assert.equal(refused.status, 503);
  assert.match(refused.body, /Server full/);
  await closeAndWait(only.socket, only.inbox);
});

Deno.test("TRUST_PROXY=1 counts connections by the address the proxy appended, the right-most X-Forwarded-For entry", async () => {
  await using server = startTestServer({
    MAX_CONNECTIONS_PER_IP: "1",
    TRUST_PROXY: "1",
  });
  const a = await openRawWebSocket(server.port, {
    headers: { "X-Forwarded-For": "198.51.100.7, 203.0.113.1" },
  });
  const sameIp = await rawRequest(
    server.port,
    upgradeRequest("/echo", { "X-Forwarded-For": "203.0.113.1" }),
  );
  assert.equal(sameIp.status, 429);
  assert.match(sameIp.body, /203\.0\.113\.1/);
  const otherIp = await rawRequest(
    server.port,
    upgradeRequest("/echo", { "X-Forwarded-For": "203.0.113.2" }),
  );
  assert.equal(otherIp.status, 101);
  a.conn.close();
});

Deno.test("a connection silent for IDLE_TIMEOUT_SECONDS is closed with 1000 idle timeout", async () => {
  await using server = startTestServer({ IDLE_TIMEOUT_SECONDS: "1" });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("one message, then silence");
  await inbox.next();
  const close = await inbox.closed();
  assert.equal(close.code, 1000);
  assert.equal(close.reason, "idle timeout");
  await assertBystanderEchoes(server);
});

Deno.test("ALLOWED_ORIGINS refuses other browser origins with 403", async (t) => {
  await using server = startTestServer({
    ALLOWED_ORIGINS: "https://good.example",
  });
  await t.step("listed origin -> 101", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/echo", { Origin: "https://good.example" }),
    );
    assert.equal(response.status, 101);
  });
  await t.step("other origin -> 403", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/echo", { Origin: "https://evil.example" }),
    );
    assert.equal(response.status, 403);
    assert.match(
      response.body,
      /Origin "https:\/\/evil\.example" is not allowed/,
    );
  });
  await t.step("no Origin (not a browser) -> 101", async () => {
    const response = await rawRequest(server.port, upgradeRequest());
    assert.equal(response.status, 101);
  });
});

Deno.test("malformed HTTP requests get a well-formed 4xx (an unknown method 501) and the server keeps echoing", async (t) => {
  await using server = startTestServer();
  const requests: Array<[string, string]> = [
    ["garbage request line", "HELLO\r\n\r\n"],
    [
      "huge header",
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(128 * 1024)}\r\n\r\n`,
    ],
    [
      "encoded traversal",
      "GET /..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ["dot segments", "GET /static/../main.ts HTTP/1.1\r\nHost: x\r\n\r\n"],
    ["bad percent encoding", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"],
    ["no Host header", "GET /echo HTTP/1.1\r\n\r\n"],
    [
      "upgrade with body",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nUpgrade: websocket\r\n\r\nabc",
    ],
    [
      "absolute-form target",
      "GET http://evil.example/../../main.ts HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
  ];
  for (const [name, request] of requests) {
    await t.step(name, async () => {
      const response = await rawRequest(server.port, request);
      assert.ok(
        response.status >= 400 && response.status < 500,
        `${name}: status ${response.status}`,
      );
      assert.doesNotMatch(response.body, /createApp|import /);
    });
  }
  // RFC 9110 §15.6.2: 501 is the answer to a method the server does not
  // recognise (lib/http/request_line.ts).
  await t.step("unknown method -> 501", async () => {
    const response = await rawRequest(
      server.port,
      "BREW /echo HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.equal(response.status, 501);
    assert.doesNotMatch(response.body, /createApp|import /);
  });
  await assertBystanderEchoes(server);
});

Deno.test("GET /metrics reports traffic, closes by code and refusals in Prometheus format", async () => {
  await using server = startTestServer({ MAX_CONNECTIONS_PER_IP: "1" });
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  socket.send("1234");
  await inbox.next();
  assert.equal((await rawRequest(server.port, upgradeRequest())).status, 429);
  socket.send("Goodbye");
  await inbox.closed();
  await server.allClosed();
  const response = await fetch(`${server.http}/metrics`);
  assert.match(
    response.headers.get("content-type")!,
    /^text\/plain; version=0\.0\.4/,
  );
  const text = await response.text();
  for (
    const line of [
      "ws_echo_connections_open 0",
      "ws_echo_connections_total 1",
      "ws_echo_messages_received_total 2",
      "ws_echo_bytes_received_total 11",
      "ws_echo_messages_sent_total 2",
      'ws_echo_closes_total{code="1000"} 1',
      'ws_echo_refusals_total{reason="per_ip"} 1',
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing "${line}" in\n${text}`);
  }
});

Deno.test("/metrics counts client-chosen close codes in two ranges, not one series each", async () => {
  await using server = startTestServer();
  for (const code of [4000, 4001, 4999, 3000]) {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    socket.close(code, "mine");
    await inbox.closed();
  }
  await until(
    () => server.services.registry.total === 0,
    "the four connections to finish",
  );
  const text = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(text, /^ws_echo_closes_total\{code="4000-4999"\} 3$/m);
  assert.match(text, /^ws_echo_closes_total\{code="3000-3999"\} 1$/m);
  assert.doesNotMatch(text, /code="4001"/);
});

Deno.test("one address's connections share RATE_LIMIT_IP_MESSAGES_PER_SECOND; the one that passes it closes with 1008", async () => {
  await using server = startTestServer({
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    RATE_LIMIT_IP_MESSAGES_PER_SECOND: "1",
    RATE_LIMIT_IP_MESSAGE_BURST: "20",
  });
  // The address's bucket starts full when `a` is admitted, after this, and
  // earns 1 message a second from then on.
  const admitted = performance.now();
  const a = await connect(`${server.ws}/echo`);
  const b = await connect(`${server.ws}/echo`);
  // 10 each fits the address's burst of 20 ...
  for (let i = 0; i < 10; i++) {
    a.socket.send("a");
    b.socket.send("b");
  }
  assert.deepEqual(await a.inbox.take(10), Array(10).fill("a"));
  assert.deepEqual(await b.inbox.take(10), Array(10).fill("b"));
  // ... and more from either is over it: more than the address can have
  // earned back however long a busy machine took to get here.
  // 50 more: a stall of the service after this reading earns it more.
  const earned = Math.ceil((performance.now() - admitted) / 1000);
  for (let i = 0; i < earned + 50; i++) b.socket.send("too many");
  const close = await b.inbox.closed();
  assert.equal(close.code, 1008);
  assert.equal(
    close.reason,
    "message rate limit: over 1 messages/s from your address",
  );
  assert.equal(server.services.metrics.breaches.get("ip_message_rate"), 1);
  await closeAndWait(a.socket, a.inbox);
});

Deno.test("the shared message rate is per address: another address has its own", () => {
  const registry = new ConnectionRegistry({
    maxPerIp: 0,
    maxTotal: 0,
    clientMessageRate: { perSecond: 1, burst: 1 },
  });
  const first = registry.admit("192.0.2.1") as Lease;
  const second = registry.admit("192.0.2.1") as Lease;
  const other = registry.admit("198.51.100.1") as Lease;
  assert.equal(first.clientMessageRate, second.clientMessageRate);
  assert.notEqual(first.clientMessageRate, other.clientMessageRate);
  assert.equal(first.clientMessageRate!.take(1, 0), true);
  assert.equal(second.clientMessageRate!.take(1, 0), false, "shared");
  assert.equal(other.clientMessageRate!.take(1, 0), true, "its own");
  for (const lease of [first, second, other]) lease.release();
  assert.equal(registry.total, 0);
  const again = registry.admit("192.0.2.1") as Lease;
  assert.equal(
    again.clientMessageRate,
    first.clientMessageRate,
    "an address that comes back finds its allowance as it left it",
  );
  assert.equal(again.clientMessageRate!.take(1, 0), false, "still spent");
  again.release();
  registry.dispose();
});
