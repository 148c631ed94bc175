/**
 * The page's security headers on answers a client tries to shape: an
 * Upgrade header it adds, a refused upgrade; and the one answer without
 * them, Deno's own to a request it cannot parse, which README names.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, startTestServer } from "../_server.ts";
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

Deno.test("two Host lines get Deno's bare 400 without the security headers, the exception README names", async () => {
  await using server = startTestServer();
  const response = await rawRequest(
    server.port,
    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
  );
  assert.equal(response.status, 400);
  // Deno 2.9.6 answers before the handler (ext/http/http_next.rs,
  // write_h1_bad_request: a date header only), so the app cannot add them.
  assert.equal(response.headers.has("x-content-type-options"), false);
  assert.equal(response.headers.has("content-security-policy"), false);
  assert.equal(response.body, "");
  const readme = (await Deno.readTextFile(`${ROOT}/README.md`))
    .replaceAll(/\s+/g, " ");
  assert.match(
    readme,
    /security headers; a request Deno cannot parse \(two `Host` lines, for one\) gets Deno's own bare `400`/,
  );
});
