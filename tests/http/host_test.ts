/**
 * The `Host` header (RFC 9112 §3.2, RFC 3986 §3.2.2): one that is no host and
 * port gets `400` before routing, since Deno builds the URL the router reads
 * from it; and what a refusal repeats of the client's own text stays short.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { rawRequest, upgradeRequest } from "../../bench/wire.ts";
import { MAX_CLIENT_TEXT } from "../../lib/log.ts";
import { MAX_HOST_LENGTH } from "../../lib/http/host.ts";

const get = (target: string, host: string) =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

Deno.test("a Host header with a path, query or fragment in it is answered 400, never routed", async (t) => {
  await using server = startTestServer();
  // Before: `GET /nothing-here` with `Host: x/metrics#` was answered with
  // /metrics (the stranger's review), past a proxy rule on the path.
  for (
    const host of ["x/metrics#", "x/healthz?", "x/limits?a=", "a b", "u@x"]
  ) {
    await t.step(JSON.stringify(host), async () => {
      const response = await rawRequest(
        server.port,
        get("/nothing-here", host),
      );
      assert.equal(response.status, 400);
      assert.equal(
        response.body,
        "The Host header is not a host and port (RFC 3986 §3.2.2)\n",
      );
    });
  }
  await t.step("an upgrade with such a Host is not upgraded", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/nothing", { Host: "x/echo#" }),
    );
    assert.equal(response.status, 400);
  });
});

Deno.test(`a Host past ${MAX_HOST_LENGTH} characters is answered 400 with a short body, not a 426 that repeats it`, async () => {
  await using server = startTestServer();
  const response = await rawRequest(
    server.port,
    get("/echo", "h".repeat(6000)),
  );
  assert.equal(response.status, 400);
  assert.equal(
    response.body,
    `The Host header is longer than ${MAX_HOST_LENGTH} characters\n`,
  );
});

Deno.test("names, addresses and ports are hosts: the request is served", async (t) => {
  await using server = startTestServer();
  for (
    const host of [
      `127.0.0.1:${server.port}`,
      `[::1]:${server.port}`,
      "echo.example",
      "h".repeat(253) + ":65535",
    ]
  ) {
    await t.step(host.slice(0, 40), async () => {
      const response = await rawRequest(server.port, get("/healthz", host));
      assert.equal(response.status, 200);
    });
  }
});

Deno.test(`a 404 repeats at most ${MAX_CLIENT_TEXT} characters of the path`, async () => {
  await using server = startTestServer();
  const path = "/" + "p".repeat(6000);
  const response = await rawRequest(server.port, get(path, "localhost"));
  assert.equal(response.status, 404);
  assert.equal(
    response.body,
    `Not found: ${path.slice(0, MAX_CLIENT_TEXT)}…(+${
      path.length - MAX_CLIENT_TEXT
    })\n`,
  );
});

Deno.test("an empty Host is answered 400 (RFC 9110 §4.2.1); no Host is answered 400 on a WebSocket upgrade, and served on a plain request, which may be HTTP/1.0", async (t) => {
  await using server = startTestServer();
  await t.step("an empty Host on a plain request", async () => {
    const response = await rawRequest(
      server.port,
      "GET /healthz HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    );
    assert.equal(response.status, 400);
    assert.match(response.body, /The Host header is empty/);
  });
  await t.step("an empty Host on an upgrade", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/echo", { Host: " " }),
    );
    assert.equal(response.status, 400);
  });
  await t.step("no Host on an upgrade", async () => {
    const response = await rawRequest(
      server.port,
      upgradeRequest("/echo", { Host: "" }),
    );
    assert.equal(response.status, 400);
    assert.match(response.body, /WebSocket upgrade names its host/);
  });
  await t.step(
    "no Host on a plain HTTP/1.0 request: served (Deno does not say which version came)",
    async () => {
      const response = await rawRequest(
        server.port,
        "GET /healthz HTTP/1.0\r\n\r\n",
      );
      assert.equal(response.status, 200);
    },
  );
});
