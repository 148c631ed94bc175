/**
 * Admission you can trust (issue #13): every slot comes back, client
 * addresses come from where the operator says, credentials are never echoed,
 * every page answer carries its security headers.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";
import {
  openRawWebSocket,
  rawRequest,
  readFrame,
  readResponse,
  upgradeRequest,
  writeAll,
} from "../../bench/wire.ts";

/** Sends an upgrade to /echo and keeps the connection open if it got 101. */
async function upgrade(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; conn?: Deno.TcpConn }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(
    conn,
    new TextEncoder().encode(upgradeRequest("/echo", headers)),
  );
  const response = await readResponse(conn);
  if (response.status === 101) return { status: 101, body: "", conn };
  conn.close();
  return { status: response.status, body: response.body };
}

/** /healthz and the registry agree that nothing is held any more. */
async function assertNoSlotHeld(server: TestServer, what: string) {
  await until(
    () => server.services.registry.total === 0,
    `every slot to be free after ${what}`,
  );
  const health = await (await fetch(`${server.http}/healthz`)).json();
  assert.equal(health.connections, 0, `${what}: /healthz connections`);
  assert.equal(server.services.registry.countFor("127.0.0.1"), 0, what);
}

Deno.test("the slot is released after an echo, a HEAD, a client gone before the 101 and a cancelled /sse, on every upgrade route", async (t) => {
  await using server = startTestServer({ MAX_CONNECTIONS_PER_IP: "2" });
  for (const path of ["/echo", "/close", "/inspect"]) {
    await t.step(`GET ${path}: upgrade, echo, close`, async () => {
      const { socket, inbox } = await connect(`${server.ws}${path}`);
      if (path === "/inspect") await inbox.next();
      socket.send("x");
      assert.equal(await inbox.next(), "x");
      await closeAndWait(socket, inbox);
      await assertNoSlotHeld(server, `GET ${path}`);
    });
    await t.step(
      `HEAD ${path} with upgrade headers: 426, nothing held`,
      async () => {
        for (let i = 0; i < 3; i++) {
          const response = await rawRequest(
            server.port,
            upgradeRequest(path).replace(/^GET/, "HEAD"),
          );
          assert.equal(response.status, 426, "a HEAD cannot upgrade");
          assert.equal(response.body, "");
        }
        await assertNoSlotHeld(server, `HEAD ${path}`);
      },
    );
    await t.step(
      `GET ${path}: the client goes away before the 101`,
      async () => {
        for (let i = 0; i < 3; i++) {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: server.port,
          });
          await conn.write(new TextEncoder().encode(upgradeRequest(path)));
          conn.close();
        }
        await assertNoSlotHeld(server, `aborted ${path}`);
      },
    );
  }
  await t.step(
    "HEAD /sse, three times over the per-IP cap: 200, nothing held",
    async () => {
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${server.http}/sse`, { method: "HEAD" });
        assert.equal(response.status, 200);
        assert.equal(
          response.headers.get("content-type"),
          "text/event-stream",
        );
        assert.equal(await response.text(), "");
      }
      await assertNoSlotHeld(server, "HEAD /sse");
      const get = await fetch(`${server.http}/sse`);
      assert.equal(get.status, 200, "a GET is admitted after the HEADs");
      await get.body?.cancel();
    },
  );
  await t.step("GET /sse: the client goes away mid-stream", async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.http}/sse`);
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    await assertNoSlotHeld(server, "cancelled /sse");
  });
});

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

Deno.test("TRUST_PROXY=1 takes the address the proxy appended, so forged X-Forwarded-For entries share one client's cap", async (t) => {
  await using server = startTestServer({ TRUST_PROXY: "1" });
  const opened: Deno.TcpConn[] = [];
  const statuses: number[] = [];
  try {
    for (let n = 1; n <= 40; n++) {
      const headers = { "X-Forwarded-For": `198.51.100.${n}, 203.0.113.9` };
      const response = await upgrade(server.port, headers);
      if (response.conn) opened.push(response.conn);
      statuses.push(response.status);
    }
    await t.step(
      "32 (MAX_CONNECTIONS_PER_IP) get 101, the other 8 get 429",
      () => {
        assert.equal(statuses.filter((status) => status === 101).length, 32);
        assert.equal(statuses.filter((status) => status === 429).length, 8);
        assert.equal(server.services.registry.countFor("203.0.113.9"), 32);
      },
    );
  } finally {
    for (const conn of opened) conn.close();
  }
  await t.step(
    "/inspect reports the appended address and where it came from",
    async () => {
      await until(
        () => server.services.registry.countFor("203.0.113.9") === 0,
        "the 32 slots to be free",
      );
      const { conn, leftover } = await openRawWebSocket(server.port, {
        path: "/inspect",
        headers: { "X-Forwarded-For": "198.51.100.1, 203.0.113.9" },
      });
      try {
        const frame = await readFrame(conn, { leftover });
        const report = JSON.parse(new TextDecoder().decode(frame.payload));
        assert.equal(report.client.ip, "203.0.113.9");
        assert.equal(report.client.ipFrom, "x-forwarded-for (1 trusted proxy)");
        assert.equal(report.client.peer.hostname, "127.0.0.1");
      } finally {
        conn.close();
      }
    },
  );
});

Deno.test("IPv6 clients count per /64 (IPV6_PREFIX_LENGTH), IPv4-mapped ones as IPv4", async (t) => {
  await using server = startTestServer({ TRUST_PROXY: "1" });
  const opened: Deno.TcpConn[] = [];
  const statuses: number[] = [];
  let refusal = "";
  try {
    for (let n = 1; n <= 40; n++) {
      const headers = { "X-Forwarded-For": `2001:db8:1:2::${n.toString(16)}` };
      const response = await upgrade(server.port, headers);
      if (response.conn) opened.push(response.conn);
      statuses.push(response.status);
      if (response.status === 429) refusal = response.body;
    }
    await t.step("40 addresses of one /64: 32 get 101, 8 get 429", () => {
      assert.equal(statuses.filter((status) => status === 101).length, 32);
      assert.equal(statuses.filter((status) => status === 429).length, 8);
      assert.match(refusal, /^Too many connections from 2001:db8:1:2::\/64:/);
    });
    await t.step("another /64 is another client", async () => {
      const response = await upgrade(server.port, {
        "X-Forwarded-For": "2001:db8:1:3::1",
      });
      if (response.conn) opened.push(response.conn);
      assert.equal(response.status, 101);
    });
    await t.step("::ffff:203.0.113.9 is 203.0.113.9", async () => {
      const response = await upgrade(server.port, {
        "X-Forwarded-For": "::ffff:203.0.113.9",
      });
      if (response.conn) opened.push(response.conn);
      assert.equal(response.status, 101);
      assert.equal(server.services.registry.countFor("203.0.113.9"), 1);
    });
  } finally {
    for (const conn of opened) conn.close();
  }
});

Deno.test("by default the service listens on IPv6 and IPv4: ::1 and 127.0.0.1 both echo", async (t) => {
  await using server = startTestServer({ BIND_ADDRESS: "" });
  for (const host of ["127.0.0.1", "[::1]"]) {
    await t.step(host, async () => {
      const { socket, inbox } = await connect(
        `ws://${host}:${server.port}/echo`,
      );
      socket.send(host);
      assert.equal(await inbox.next(), host);
      if (host === "127.0.0.1") {
        assert.equal(
          server.services.registry.countFor("127.0.0.1"),
          1,
          "an IPv4 client on the dual-stack socket counts as IPv4",
        );
      }
      await closeAndWait(socket, inbox);
    });
  }
});

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
    let text = "";
    while (!text.includes("event: request")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    text += (await reader.read()).value ?? "";
    await reader.cancel();
    assert.match(text, /"cookie":"<redacted: 19 bytes>"/);
    assert.doesNotMatch(text, /very-secret|dmVyeS1zZWNyZXQ/);
  });
});

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

Deno.test("a plain GET of a WebSocket endpoint answers what an upgrade would meet, so a page can explain a failed one", async (t) => {
  await using server = startTestServer({
    MAX_CONNECTIONS_PER_IP: "1",
    ALLOWED_ORIGINS: "https://tutorial.example",
  });
  await t.step("nothing in the way: 426 with instructions", async () => {
    const response = await fetch(`${server.http}/echo`);
    assert.equal(response.status, 426);
    assert.match(await response.text(), /WebSocket echo endpoint/);
  });
  await t.step("a page on another origin: 403", async () => {
    const response = await fetch(`${server.http}/echo`, {
      headers: { Origin: "https://elsewhere.example" },
    });
    assert.equal(response.status, 403);
    assert.match(await response.text(), /^Origin "https:\/\/elsewhere/);
  });
  await t.step("the per-IP cap is full: 429", async () => {
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    const response = await fetch(`${server.http}/echo`);
    assert.equal(response.status, 429);
    assert.match(await response.text(), /^Too many connections from 127/);
    await closeAndWait(socket, inbox);
  });
  await t.step("/limits names the allowed origins", async () => {
    const body = await (await fetch(`${server.http}/limits`)).json();
    assert.deepEqual(body.allowedOrigins, ["https://tutorial.example"]);
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
