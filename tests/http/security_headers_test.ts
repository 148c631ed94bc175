/**
 * The page's security headers on answers a client tries to shape: an
 * Upgrade header it adds, a refused upgrade.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { rawRequest, upgradeRequest } from "../../bench/wire.ts";

Deno.test("an Upgrade header a client chooses does not turn off the page's security headers or its log line", async () => {
  await using server = startTestServer();
  const response = await rawRequest(
    server.port,
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, close\r\n\r\n",
  );
  assert.equal(response.status, 200);
  assert.match(
    response.headers.get("content-security-policy") ?? "",
    /default-src 'self'/,
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.ok(
    server.logs.some((line) =>
      line.startsWith("http method=GET path=/ status=200")
    ),
    "the request is logged",
  );
});

Deno.test("a refused upgrade (version 8: 426) carries the security headers and is counted", async () => {
  await using server = startTestServer();
  const response = await rawRequest(
    server.port,
    upgradeRequest("/echo", { "Sec-WebSocket-Version": "8" }),
  );
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(
    server.services.metrics.refusals.get("bad_version"),
    1,
    "a version 8 upgrade is counted",
  );
});
