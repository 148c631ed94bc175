/**
 * HEAD requests: answered with GET's headers and no body, and logged as HEAD.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { rawRequest } from "../../bench/wire.ts";

Deno.test("HEAD answers with GET's headers and no body (RFC 9110 §9.3.2)", async (t) => {
  await using server = startTestServer();
  await t.step("HEAD /limits has GET's Content-Length", async () => {
    const get = await rawRequest(
      server.port,
      "GET /limits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const head = await rawRequest(
      server.port,
      "HEAD /limits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(get.body.length));
    assert.equal(head.body, "");
  });
  await t.step("HEAD / is not Content-Length: 0", async () => {
    const head = await rawRequest(
      server.port,
      "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.equal(head.status, 200);
    assert.notEqual(head.headers.get("content-length"), "0");
    assert.match(head.headers.get("content-security-policy") ?? "", /self/);
  });
});

Deno.test("a HEAD request is logged as HEAD, though it is served as GET", async () => {
  await using server = startTestServer();
  const response = await fetch(`${server.http}/limits`, { method: "HEAD" });
  await response.body?.cancel();
  assert.equal(response.status, 200);
  assert.ok(
    server.logs.some((line) =>
      line.startsWith("http method=HEAD path=/limits status=200")
    ),
    `logged as HEAD: ${server.logs.join("\n")}`,
  );
});
