import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { DEFAULT_CONFIG, parseConfig } from "../../lib/config.ts";
import { REFUSAL_LOGGED } from "../../lib/admission/refuse.ts";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";
import { rawRequest } from "../../bench/wire.ts";

const { app } = createApp(DEFAULT_CONFIG, { log: () => {} });

Deno.test("GET / serves the demo page from static/", async () => {
  const response = await app.request("/");
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assert.match(await response.text(), /<html/);
});

Deno.test("/, /echo, /healthz and a 404 carry the security headers", async (t) => {
  for (const path of ["/", "/echo", "/healthz", "/missing"]) {
    await t.step(path, async () => {
      const response = await app.request(path);
      await response.body?.cancel();
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("referrer-policy"), "no-referrer");
    });
  }
});

Deno.test("another method on a path that exists for GET is 405 with Allow, on a missing path 404", async (t) => {
  for (const path of ["/", "/healthz", "/metrics", "/limits", "/sse"]) {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      await t.step(`${method} ${path} -> 405`, async () => {
        const response = await app.request(path, { method });
        assert.equal(response.status, 405);
        assert.equal(response.headers.get("allow"), "GET, HEAD");
        assert.equal(
          await response.text(),
          `Method ${method} not allowed on ${path}: use GET\n`,
        );
      });
    }
  }
  await t.step("POST /missing -> 404", async () => {
    const response = await app.request("/missing", { method: "POST" });
    assert.equal(response.status, 404);
    assert.equal(await response.text(), "Not found: /missing\n");
  });
});

Deno.test("a CORS preflight for /limits or /sse offers GET and HEAD only", async (t) => {
  for (const path of ["/limits", "/sse"]) {
    await t.step(path, async () => {
      const response = await app.request(path, {
        method: "OPTIONS",
        headers: {
          Origin: "https://tutorial.example",
          "Access-Control-Request-Method": "GET",
        },
      });
      await response.body?.cancel();
      assert.equal(response.status, 204);
      assert.equal(
        response.headers.get("access-control-allow-methods"),
        "GET,HEAD",
      );
    });
  }
});

Deno.test("a refusal gets the security headers and its refusal line only, repeats collapsed", async (t) => {
  const records: Array<Record<string, unknown>> = [];
  const { fetch, services } = createApp(
    parseConfig({ ALLOWED_ORIGINS: "https://tutorial.example" }),
    { log: (record) => records.push(record) },
  );
  const info = {
    remoteAddr: { transport: "tcp", hostname: "127.0.8.1", port: 50000 },
  } as unknown as Deno.ServeHandlerInfo;
  const upgrade = {
    Host: "localhost",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    Origin: "https://elsewhere.example",
  };
  const cases = [
    // The upgrade handler answers before Hono routes; Hono finishes it.
    { path: "/echo", headers: {}, status: 426, event: "ws_refused" },
    { path: "/echo", headers: upgrade, status: 403, event: "ws_refused" },
    { path: "/room/tea", headers: upgrade, status: 403, event: "ws_refused" },
    // Behind `cors`, which makes Hono build a new Response.
    {
      path: "/sse",
      headers: { Origin: upgrade.Origin },
      status: 403,
      event: "sse_refused",
    },
  ];
  try {
    for (const { path, headers, status, event } of cases) {
      await t.step(
        `${path} ${status}, 20 times: one ${event} line at once, then one count, no http line`,
        async () => {
          records.length = 0;
          for (let i = 0; i < 20; i++) {
            const response = await fetch(
              new Request(`http://localhost${path}`, { headers }),
              info,
            );
            await response.body?.cancel();
            assert.equal(response.status, status);
            assert.match(
              response.headers.get("content-security-policy") ?? "",
              /default-src 'self'/,
            );
            assert.equal(response.headers.get(REFUSAL_LOGGED), null);
          }
          services.refusalLog.dispose();
          assert.deepEqual(
            records.map((r) => [r.event, r.path, r.status, r.repeated]),
            [[event, path, status, undefined], [event, path, status, 19]],
          );
        },
      );
    }
  } finally {
    services.refusalLog.dispose();
    services.memory.dispose();
  }
});

Deno.test("dot segments, encoded separators and files outside static/ get a 4xx, never the file", async (t) => {
  await using server = startTestServer();
  const attempts = [
    "/../main.ts",
    "/static/../main.ts",
    "/..%2fmain.ts",
    "/%2e%2e/main.ts",
    "/..%5cmain.ts",
    "//etc/passwd",
    "/main.ts",
    "/deno.json",
  ];
  for (const path of attempts) {
    await t.step(`GET ${path} -> 4xx`, async () => {
      const response = await rawRequest(
        server.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      assert.ok(
        response.status >= 400 && response.status < 500,
        `status ${response.status}`,
      );
      assert.doesNotMatch(response.body, /import|createApp|"tasks"|root:/);
    });
  }
});

Deno.test("GET /healthz reports status, open connections and uptime", async () => {
  await using server = startTestServer();
  const { socket, inbox } = await connect(`${server.ws}/echo`);
  const response = await fetch(`${server.http}/healthz`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const body = await response.json();
  assert.equal(body.status, "ok");
  assert.equal(body.connections, 1);
  assert.equal(typeof body.uptimeSeconds, "number");
  await closeAndWait(socket, inbox);
});

Deno.test("a path no file can have is 404, with no error line (GET /%00, stranger23)", async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const { app } = createApp(DEFAULT_CONFIG, {
    log: (record) => lines.push(record as Record<string, unknown>),
  });
  for (const path of ["/%00", "/a%00b", "/%00/index.html"]) {
    await t.step(`GET ${path} -> 404`, async () => {
      const response = await app.request(path);
      await response.body?.cancel();
      assert.equal(response.status, 404);
    });
  }
  assert.deepEqual(lines.filter((line) => line.event === "error"), []);
});
