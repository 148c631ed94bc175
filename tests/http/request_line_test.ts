/**
 * Request lines no route can take, sent as raw bytes (fetch cannot send
 * them): `CONNECT` (authority-form), `OPTIONS *` (asterisk-form), methods
 * the server does not know, and absolute-form targets. Each gets a status
 * that says what is wrong and a short body, through the same security
 * headers and log line as every answer (issue #20: `CONNECT 127.0.0.1:22`
 * was `404 Not found: 2`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { rawRequest } from "../../bench/wire.ts";

/** One request line and its headers, on a connection of its own. */
function send(port: number, line: string, host = "127.0.0.1") {
  return rawRequest(
    port,
    `${line}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
}

Deno.test("request lines no route can take get a status that says why and a short body", async (t) => {
  await using server = startTestServer();
  await t.step(
    "CONNECT host:port is 405 with Allow, and names no path",
    async () => {
      const answer = await send(
        server.port,
        "CONNECT 127.0.0.1:22 HTTP/1.1",
        "127.0.0.1:22",
      );
      assert.equal(answer.status, 405);
      assert.equal(answer.headers.get("allow"), "GET, HEAD");
      assert.equal(
        answer.body,
        "Method CONNECT not allowed: this server is not a proxy and opens no tunnel; use GET\n",
      );
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff");
    },
  );
  await t.step("OPTIONS * is 204 with the server's methods", async () => {
    const answer = await send(server.port, "OPTIONS * HTTP/1.1");
    assert.equal(answer.status, 204);
    assert.equal(answer.headers.get("allow"), "GET, HEAD, OPTIONS");
    assert.equal(answer.body, "");
  });
  await t.step(
    "a method the server does not know is 501, on any path",
    async () => {
      for (const line of ["BREW / HTTP/1.1", "get /healthz HTTP/1.1"]) {
        const answer = await send(server.port, line);
        const method = line.split(" ")[0];
        assert.equal(answer.status, 501, line);
        assert.equal(
          answer.body,
          `Method ${method} not implemented: this server answers GET and HEAD\n`,
        );
      }
      const long = await send(server.port, `${"X".repeat(200)} / HTTP/1.1`);
      assert.equal(long.status, 501);
      assert.equal(
        long.body,
        `Method ${
          "X".repeat(32)
        }… not implemented: this server answers GET and HEAD\n`,
      );
    },
  );
  await t.step(
    "an absolute-form target: http is served, another scheme is 400",
    async () => {
      const http = await send(
        server.port,
        "GET http://127.0.0.1/limits HTTP/1.1",
      );
      assert.equal(http.status, 200);
      const ftp = await send(
        server.port,
        "GET ftp://127.0.0.1/limits HTTP/1.1",
      );
      assert.equal(ftp.status, 400);
      assert.equal(
        ftp.body,
        "Bad request target: only http and https URLs are served here\n",
      );
      // An opening handshake too (stranger23: it was answered 101).
      const upgrade = await rawRequest(
        server.port,
        "GET ftp://127.0.0.1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      );
      assert.equal(upgrade.status, 400);
    },
  );
  await t.step(
    "a known method on a GET path is still 405 with Allow",
    async () => {
      const answer = await send(server.port, "PUT /healthz HTTP/1.1");
      assert.equal(answer.status, 405);
      assert.equal(answer.headers.get("allow"), "GET, HEAD");
    },
  );
  await t.step("each is logged once", () => {
    for (const [method, status] of [["CONNECT", 405], ["OPTIONS", 204]]) {
      assert.equal(
        server.logs.filter((line) =>
          line.startsWith(`http method=${method} `) &&
          line.includes(` status=${status} `)
        ).length,
        1,
        server.logs.join("\n"),
      );
    }
  });
});
