import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";
import {
  clientFrame,
  openRawWebSocket,
  rawRequest,
  readFrame,
  upgradeRequest,
  writeAll,
} from "../../bench/wire.ts";

Deno.test("the Upgrade header is matched case-insensitively (RFC 6455 §4.2.1)", async (t) => {
  await using server = startTestServer();
  for (const value of ["websocket", "WebSocket", "WEBSOCKET"]) {
    await t.step(`Upgrade: ${value} -> 101, then echoes`, async () => {
      const { conn, leftover, response } = await openRawWebSocket(
        server.port,
        { headers: { Upgrade: value, Connection: "keep-alive, Upgrade" } },
      );
      try {
        assert.equal(response.status, 101);
        assert.equal(
          response.headers.get("sec-websocket-accept"),
          "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
        );
        await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("hi")));
        const frame = await readFrame(conn, { leftover });
        assert.deepEqual(
          [...frame.bytes],
          [0x81, 2, 0x68, 0x69],
          "unmasked text frame 'hi'",
        );
        assert.equal(frame.rest.length, 0, "nothing after the echo");
      } finally {
        conn.close();
      }
    });
  }
});

Deno.test("the first subprotocol offered is chosen however the list is spaced (RFC 7230 §7: OWS around commas)", async (t) => {
  await using server = startTestServer();
  // Node's ws joins its list with "," alone; Deno's own check splits on ", ".
  for (const offered of ["chat, v2", "chat,v2", "chat ,v2", "chat,  v2"]) {
    await t.step(`Sec-WebSocket-Protocol: ${offered} -> 101 chat`, async () => {
      const { conn, response } = await openRawWebSocket(server.port, {
        headers: { "Sec-WebSocket-Protocol": offered },
      });
      try {
        assert.equal(response.status, 101);
        assert.equal(response.headers.get("sec-websocket-protocol"), "chat");
      } finally {
        conn.close();
      }
    });
  }
  await t.step("none offered -> no Sec-WebSocket-Protocol", async () => {
    const { conn, response } = await openRawWebSocket(server.port);
    try {
      assert.equal(response.status, 101);
      assert.equal(response.headers.get("sec-websocket-protocol"), undefined);
    } finally {
      conn.close();
    }
  });
  await server.allClosed();
});

Deno.test("refused handshakes get the status for their cause and a readable body", async (t) => {
  await using server = startTestServer();

  await t.step(
    "plain GET /echo -> 426 with Upgrade: websocket and how to connect",
    async () => {
      const response = await fetch(`${server.http}/echo`);
      const body = await response.text();
      assert.equal(response.status, 426);
      assert.equal(response.headers.get("upgrade"), "websocket");
      assert.match(body, /new WebSocket\("ws:\/\/127\.0\.0\.1:\d+\/echo"\)/);
      assert.match(body, /wscat -c ws:\/\//);
    },
  );

  await t.step(
    "plain GET /close and /inspect -> 426 saying what each does, not 'an echo endpoint'",
    async () => {
      const close = await fetch(`${server.http}/close`);
      assert.equal(close.status, 426);
      const closeBody = await close.text();
      assert.match(closeBody, /\/close is .*send the text "CODE REASON"/);
      assert.doesNotMatch(closeBody, /echo endpoint/);
      const inspect = await fetch(`${server.http}/inspect`);
      assert.equal(inspect.status, 426);
      const inspectBody = await inspect.text();
      assert.match(inspectBody, /\/inspect is .*reports your handshake/);
      assert.doesNotMatch(inspectBody, /echo endpoint/);
    },
  );

  await t.step(
    "wrong Sec-WebSocket-Version -> 426 with Sec-WebSocket-Version: 13",
    async () => {
      const response = await rawRequest(
        server.port,
        upgradeRequest("/echo", { "Sec-WebSocket-Version": "8" }),
      );
      assert.equal(response.status, 426);
      assert.equal(response.headers.get("sec-websocket-version"), "13");
      assert.match(response.body, /version 13/);
    },
  );

  const badRequests: Array<[string, Record<string, string>, RegExp]> = [
    ["missing key", { "Sec-WebSocket-Key": "" }, /Missing Sec-WebSocket-Key/],
    [
      "malformed key",
      { "Sec-WebSocket-Key": "not-base64!" },
      /Invalid Sec-WebSocket-Key/,
    ],
    [
      "key of the wrong length",
      { "Sec-WebSocket-Key": "c2hvcnQ=" },
      /Invalid Sec-WebSocket-Key/,
    ],
    [
      "Connection without Upgrade",
      { Connection: "keep-alive" },
      /Connection header/,
    ],
    ["malformed subprotocol list", {
      "Sec-WebSocket-Protocol": "chat, bad protocol",
    }, /Invalid Sec-WebSocket-Protocol/],
  ];
  for (const [name, headers, message] of badRequests) {
    await t.step(`${name} -> 400`, async () => {
      const response = await rawRequest(
        server.port,
        upgradeRequest("/echo", headers),
      );
      assert.equal(response.status, 400);
      assert.match(response.body, message);
    });
  }

  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    await t.step(`${method} /echo -> 405 with Allow`, async () => {
      const response = await fetch(`${server.http}/echo`, { method });
      await response.body?.cancel();
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
    });
  }

  await t.step("unknown path -> 404", async () => {
    const response = await fetch(`${server.http}/nope`);
    assert.equal(response.status, 404);
    assert.equal(await response.text(), "Not found: /nope\n");
  });

  await t.step("the server still echoes after all of the above", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    socket.send("alive");
    const echoed = await inbox.next();
    assert.equal(echoed, "alive");
    await closeAndWait(socket, inbox);
  });
});

Deno.test("every 101 names its connection in X-Connection-Id: the id /inspect reports, its instance before the dash", async () => {
  await using server = startTestServer();
  const { conn, leftover, response } = await openRawWebSocket(server.port, {
    path: "/inspect",
  });
  try {
    const report = JSON.parse(
      new TextDecoder().decode((await readFrame(conn, { leftover })).payload),
    );
    const id = response.headers.get("x-connection-id");
    assert.equal(id, report.connection);
    assert.equal(id?.split("-")[0], report.server);
  } finally {
    conn.close();
  }
});
