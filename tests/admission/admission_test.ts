/**
 * Admission you can trust (issue #13): every slot comes back, client
 * addresses come from where the operator says, and a plain GET learns what
 * an upgrade would meet.
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
