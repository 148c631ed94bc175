import assert from "node:assert/strict";
import { checkSite, shippedSite, startNginx } from "../_nginx.ts";
import { ROOT, startTestServer } from "../_server.ts";
import { connect, readTextUntil, withDeadline } from "../_client.ts";
import { openRawWebSocket, readFrame, writeAll } from "../../bench/wire.ts";

/**
 * The header timeout of the test's nginx, in seconds: the shipped 10 s,
 * shortened so the test is quick; everything else is as shipped.
 */
const HEADER_TIMEOUT_SECONDS = 2;

Deno.test("deploy/nginx.conf passes nginx -t as shipped", async () => {
  const { success, output } = await checkSite(shippedSite());
  assert.ok(success, output);
  assert.match(output, /syntax is ok/);
});

Deno.test("docs/operations.md's nginx block is deploy/nginx.conf", async () => {
  const operations = await Deno.readTextFile(`${ROOT}/docs/operations.md`);
  const block = /```nginx\n([\s\S]*?)```/.exec(operations)?.[1];
  assert.equal(block, shippedSite());
});

Deno.test("through nginx with deploy/nginx.conf and TRUST_PROXY=1", async (t) => {
  await using server = startTestServer({ TRUST_PROXY: "1" });
  await using nginx = await startNginx({
    upstreamPort: server.port,
    headerTimeoutSeconds: HEADER_TIMEOUT_SECONDS,
  });

  await t.step("a WebSocket on /echo gets text and binary echoed", async () => {
    const { socket, inbox } = await connect(
      `ws://127.0.0.1:${nginx.port}/echo`,
    );
    socket.send("Hello, nginx");
    assert.equal(await inbox.next(), "Hello, nginx");
    socket.send(new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual(
      new Uint8Array(await inbox.next() as ArrayBuffer),
      new Uint8Array([0, 1, 2, 255]),
    );
    socket.send("Goodbye");
    assert.equal(await inbox.next(), "Goodbye");
    assert.equal((await inbox.closed()).code, 1000);
  });

  await t.step(
    "/inspect reports the address nginx saw, not one the client wrote",
    async () => {
      const { conn, leftover } = await openRawWebSocket(nginx.port, {
        path: "/inspect",
        headers: { "X-Forwarded-For": "203.0.113.9" },
      });
      try {
        const frame = await readFrame(conn, { leftover });
        const report = JSON.parse(new TextDecoder().decode(frame.payload));
        assert.equal(report.client.ip, "127.0.0.1");
        assert.equal(report.client.ipFrom, "x-forwarded-for (1 trusted proxy)");
        assert.equal(
          report.request.headers["x-forwarded-for"],
          "203.0.113.9, 127.0.0.1",
          "nginx appended the address it saw",
        );
      } finally {
        conn.close();
      }
    },
  );

  await t.step("/sse events arrive as they are sent", async () => {
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${nginx.port}/sse`, {
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    // Three small events (about 400 bytes) fit in nginx's proxy buffer many
    // times over: buffered, none would arrive before the stream ends (300 s).
    const reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      const text = await readTextUntil(
        reader,
        (text) => text.includes("event: time"),
        "the first time event through nginx",
        { timeoutMs: 10_000 },
      );
      assert.match(text, /^event: server\n/);
      assert.match(text, /event: request\n/);
    } finally {
      controller.abort();
      await reader.cancel().catch(() => {});
    }
  });

  await t.step(
    `a client sending its headers one byte a second is cut off after client_header_timeout (${HEADER_TIMEOUT_SECONDS} s here)`,
    async () => {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: nginx.port,
      });
      const request = new TextEncoder().encode(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: one byte a second\r\n\r\n",
      );
      const startedAt = performance.now();
      let sent = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const dribble = async () => {
        try {
          await writeAll(conn, request.subarray(sent, sent + 1));
          sent++;
          timer = setTimeout(dribble, 1000);
        } catch {
          // Cut off while writing.
        }
      };
      try {
        await dribble();
        const closed = (async () => {
          const buffer = new Uint8Array(1024);
          try {
            while (await conn.read(buffer) !== null) { /* a 408, if any */ }
          } catch {
            // Reset: cut off as well.
          }
        })();
        await withDeadline(closed, 20_000, "nginx to cut the slow client off");
        const seconds = (performance.now() - startedAt) / 1000;
        assert.ok(
          seconds < HEADER_TIMEOUT_SECONDS + 3,
          `cut off after ${seconds.toFixed(1)} s (${sent} bytes sent)`,
        );
        assert.ok(sent < request.length, "before the headers were complete");
      } finally {
        clearTimeout(timer);
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
    },
  );
});
