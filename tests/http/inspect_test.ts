import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config.ts";
import { describeLimits } from "../../lib/http/limits_report.ts";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";
import { openRawWebSocket, readFrame } from "../../bench/wire.ts";

Deno.test("GET /inspect first reports the handshake as JSON, then echoes", async (t) => {
  await using server = startTestServer({ MAX_MESSAGE_BYTES: "4096" });
  const { socket, inbox } = await connect(`${server.ws}/inspect?delay=0`, {
    protocols: ["chat.v2", "chat.v1"],
    headers: { Origin: "http://tutorial.example", "X-Tutorial": "step 3" },
  });
  const report = JSON.parse(await inbox.next() as string);

  await t.step("who connected, as the limits count it", () => {
    assert.equal(report.endpoint, "/inspect");
    assert.equal(report.server, server.services.ids.instance);
    assert.match(report.connection, new RegExp(`^${report.server}-`));
    assert.equal(report.client.ip, "127.0.0.1");
    assert.equal(report.client.ipFrom, "tcp peer");
    assert.equal(report.client.peer.hostname, "127.0.0.1");
    assert.equal(report.origin, "http://tutorial.example");
    assert.match(report.userAgent, /^Deno\//);
  });

  await t.step("the request line and every header", () => {
    assert.equal(report.request.method, "GET");
    assert.equal(report.request.target, "/inspect?delay=0");
    assert.equal(report.request.headers["x-tutorial"], "step 3");
    assert.equal(report.request.headers["upgrade"], "websocket");
    assert.equal(report.request.headers["sec-websocket-version"], "13");
  });

  await t.step("subprotocols offered and the one chosen", () => {
    assert.deepEqual(report.subprotocols.offered, ["chat.v2", "chat.v1"]);
    assert.equal(report.subprotocols.chosen, "chat.v2");
    assert.equal(socket.protocol, "chat.v2");
  });

  await t.step(
    "the options and the active limits, as /limits has them",
    async () => {
      assert.deepEqual(report.options, { delay: 0 });
      assert.equal(report.limits.maxMessageBytes.value, 4096);
      const limits = await (await fetch(`${server.http}/limits`)).json();
      assert.deepEqual(report.limits, limits.limits);
    },
  );

  await t.step("after the report it echoes like /echo", async () => {
    socket.send("after the report");
    assert.equal(await inbox.next(), "after the report");
  });
  await closeAndWait(socket, inbox);
});

Deno.test("GET /inspect lists offered extensions and accepts none", async () => {
  await using server = startTestServer();
  const { conn, leftover, response } = await openRawWebSocket(server.port, {
    path: "/inspect",
    headers: {
      "Sec-WebSocket-Extensions":
        "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame",
    },
  });
  try {
    const { head } = response;
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.doesNotMatch(head, /sec-websocket-extensions/i);
    const frame = await readFrame(conn, { leftover });
    assert.ok((frame.bytes[1]! & 0x7f) <= 126, "report fits a 16-bit length");
    assert.equal(frame.opcode, 1, "the report is a text frame");
    const report = JSON.parse(new TextDecoder().decode(frame.payload));
    assert.deepEqual(report.extensions.offered, [
      "permessage-deflate; client_max_window_bits",
      "x-webkit-deflate-frame",
    ]);
    assert.deepEqual(report.extensions.accepted, []);
    assert.deepEqual(report.subprotocols, {
      offered: [],
      chosen: null,
      rule: "the first one offered is accepted",
    });
  } finally {
    conn.close();
  }
});

Deno.test("GET /inspect behind a trusted proxy says which source gave the address, the TCP peer when X-Forwarded-For gave none", async (t) => {
  await using server = startTestServer({ TRUST_PROXY: "1" });
  /** The report's `client` for an upgrade with these headers. */
  const client = async (headers: Record<string, string>) => {
    const { conn, leftover } = await openRawWebSocket(server.port, {
      path: "/inspect",
      headers,
    });
    try {
      const frame = await readFrame(conn, { leftover });
      return JSON.parse(new TextDecoder().decode(frame.payload)).client;
    } finally {
      conn.close();
    }
  };
  await t.step("an address in the proxy's entry: X-Forwarded-For", async () => {
    const seen = await client({ "X-Forwarded-For": "203.0.113.7" });
    assert.equal(seen.ip, "203.0.113.7");
    assert.equal(seen.ipFrom, "x-forwarded-for (1 trusted proxy)");
  });
  for (
    const [name, headers] of [
      ["a junk entry", { "X-Forwarded-For": "not-an-address" }],
      ["no header", {}],
    ] as const
  ) {
    await t.step(`${name}: the TCP peer, and why`, async () => {
      const seen = await client(headers);
      assert.equal(seen.ip, "127.0.0.1");
      assert.equal(
        seen.ipFrom,
        "tcp peer: x-forwarded-for (1 trusted proxy) gave no address",
      );
    });
  }
});

Deno.test("GET /limits reports the running configuration and the defaults", async () => {
  const env = {
    MAX_MESSAGE_BYTES: "2048",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    SSE_LIFETIME_SECONDS: "7",
  };
  await using server = startTestServer(env);
  const response = await fetch(`${server.http}/limits`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  const body = await response.json();
  assert.deepEqual(body.limits, describeLimits(server.services.config));
  assert.deepEqual(body.limits.maxMessageBytes, {
    value: 2048,
    default: 1048576,
    off: false,
    unit: "bytes",
    env: "MAX_MESSAGE_BYTES",
    breach: 'not echoed; close 1009 "message too big: limit is N bytes"',
  });
  assert.equal(body.limits.rateLimitMessagesPerSecond.off, true);
  assert.equal(body.limits.sseLifetimeSeconds.value, 7);
  assert.deepEqual(Object.keys(body.queryOptions), [
    "delay",
    "format",
    "greeting",
    "close_after",
    "code",
    "reason",
    "status",
    "retry_after",
    "open_delay",
    "count",
    "size",
    "type",
    "interval",
    "self",
  ]);
  // What startTestServer adds to `env`.
  const config = parseConfig({
    ...env,
    BIND_ADDRESS: "127.0.0.1",
    MAX_RSS_BYTES: "0",
  });
  for (const [name, limit] of Object.entries(body.limits)) {
    assert.equal(
      (limit as { value: number }).value,
      config[name as keyof typeof config],
      name,
    );
  }
});
