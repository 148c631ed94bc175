/**
 * Credentials in request headers are reported by /inspect and /sse as present
 * and redacted, never their values.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { readTextUntil } from "../_client.ts";
import { openRawWebSocket, readFrame } from "../../bench/wire.ts";

Deno.test("/inspect and /sse report credentials as present and redacted, never their values", async (t) => {
  await using server = startTestServer();
  const secrets = {
    Cookie: "session=very-secret",
    Authorization: "Bearer very-secret",
    "Proxy-Authorization": "Basic dmVyeS1zZWNyZXQ=",
  };
  await t.step("/inspect, from a page on another origin", async () => {
    const { conn, leftover } = await openRawWebSocket(server.port, {
      path: "/inspect",
      headers: { ...secrets, Origin: "https://elsewhere.example" },
    });
    try {
      const frame = await readFrame(conn, { leftover });
      const text = new TextDecoder().decode(frame.payload);
      assert.doesNotMatch(text, /very-secret|dmVyeS1zZWNyZXQ/);
      const headers = JSON.parse(text).request.headers;
      assert.equal(headers.cookie, "<redacted: 19 bytes>");
      assert.equal(headers.authorization, "<redacted: 18 bytes>");
      assert.equal(headers["proxy-authorization"], "<redacted: 22 bytes>");
      assert.equal(headers.origin, "https://elsewhere.example");
    } finally {
      conn.close();
    }
  });
  await t.step("/sse's request event", async () => {
    const response = await fetch(`${server.http}/sse`, { headers: secrets });
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    let text: string;
    try {
      // The whole request event: its block ends with a blank line.
      text = await readTextUntil(
        reader,
        (text) => /event: request\n(?:.+\n)*\n/.test(text),
        "/sse's request event",
        { timeoutMs: 10_000 },
      );
    } finally {
      await reader.cancel();
    }
    assert.match(text, /"cookie":"<redacted: 19 bytes>"/);
    assert.doesNotMatch(text, /very-secret|dmVyeS1zZWNyZXQ/);
  });
});

Deno.test("/inspect redacts the credentials an authenticating proxy adds too", async () => {
  await using server = startTestServer();
  const added = {
    "X-Auth-Request-Access-Token": "proxy-secret-1",
    "Cf-Access-Jwt-Assertion": "proxy-secret-2",
    "X-Amzn-Oidc-Data": "proxy-secret-3",
    "X-Api-Key": "proxy-secret-4",
  };
  const { conn, leftover } = await openRawWebSocket(server.port, {
    path: "/inspect",
    headers: { ...added, "X-Request-Id": "abc-123" },
  });
  try {
    const frame = await readFrame(conn, { leftover });
    const text = new TextDecoder().decode(frame.payload);
    assert.doesNotMatch(text, /proxy-secret/);
    const headers = JSON.parse(text).request.headers;
    for (const name of Object.keys(added)) {
      assert.equal(headers[name.toLowerCase()], "<redacted: 14 bytes>", name);
    }
    assert.equal(headers["x-request-id"], "abc-123", "other headers stay");
    assert.equal(headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
  } finally {
    conn.close();
  }
});
