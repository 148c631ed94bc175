import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect, until } from "../_client.ts";
import { rawRequest, upgradeRequest, writeAll } from "../../bench/wire.ts";

Deno.test("status=CODE refuses the upgrade with that status, on every echo endpoint", async (t) => {
  await using server = startTestServer();
  for (const path of ["/echo", "/close", "/inspect", "/", "/stream"]) {
    await t.step(
      `${path}?status=503&retry_after=7 -> 503 with Retry-After`,
      async () => {
        const response = await rawRequest(
          server.port,
          upgradeRequest(`${path}?status=503&retry_after=7`),
        );
        assert.equal(response.status, 503);
        assert.equal(response.headers.get("retry-after"), "7");
        assert.match(response.body, /^Status 503 was asked for \(status=503\)/);
      },
    );
  }
  await t.step("any 4xx or 5xx, without Retry-After unless asked", async () => {
    for (const status of [400, 401, 404, 418, 429, 500, 502, 599]) {
      const response = await rawRequest(
        server.port,
        upgradeRequest(`/echo?status=${status}`),
      );
      assert.equal(response.status, status);
      assert.equal(response.headers.has("retry-after"), false);
      assert.match(response.body, new RegExp(`^Status ${status} was asked`));
    }
  });
  await t.step(
    "a plain GET gets the status too, as its upgrade would",
    async () => {
      const response = await fetch(`${server.http}/echo?status=418`);
      assert.equal(response.status, 418);
      assert.match(await response.text(), /^Status 418 was asked for/);
    },
  );
  await t.step("a WebSocket client sees a failed connection", async () => {
    await assert.rejects(connect(`${server.ws}/echo?status=500`));
  });
  await t.step("/metrics counts them apart from real refusals", async () => {
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    assert.match(metrics, /^ws_echo_statuses_asked_total\{status="503"\} 5$/m);
    assert.match(metrics, /^ws_echo_statuses_asked_total\{status="418"\} 2$/m);
    assert.doesNotMatch(
      metrics,
      /ws_echo_refusals_total\{reason="status_asked"/,
    );
    assert.equal(server.services.metrics.refusals.size, 0);
  });
});

Deno.test("the failure controls are validated like the other options", async (t) => {
  await using server = startTestServer();
  const cases: Array<[query: string, expected: RegExp]> = [
    ["status=200", /^Invalid option "status": expected an integer 400-599/],
    ["status=101", /^Invalid option "status": expected an integer 400-599/],
    ["status=600", /^Invalid option "status": expected an integer 400-599/],
    ["status=5xx", /^Invalid option "status": expected an integer 400-599/],
    [
      "status=500&status=503",
      /^Invalid option "status": given twice; expected an integer 400-599, once/,
    ],
    [
      "retry_after=5",
      /^Invalid option "retry_after": only applies together with status/,
    ],
    [
      "status=503&retry_after=-1",
      /^Invalid option "retry_after": expected an integer 0-86400/,
    ],
    [
      "open_delay=10001",
      /^Invalid option "open_delay": expected an integer 0-10000/,
    ],
    [
      "open_delay=soon",
      /^Invalid option "open_delay": expected an integer 0-10000/,
    ],
  ];
  for (const [query, expected] of cases) {
    await t.step(`/echo?${query} -> 400`, async () => {
      const response = await rawRequest(
        server.port,
        upgradeRequest(`/echo?${query}`),
      );
      assert.equal(response.status, 400);
      assert.match(response.body, expected);
      assert.match(response.body, /\n {2}open_delay: /);
    });
  }
  await t.step("/limits lists them", async () => {
    const { queryOptions } = await (await fetch(`${server.http}/limits`))
      .json();
    for (const option of ["status", "retry_after", "open_delay"]) {
      assert.equal(typeof queryOptions[option], "string", option);
    }
  });
});

Deno.test("open_delay=MS sends the 101 that long after the request arrives", async (t) => {
  await using server = startTestServer({ MAX_CONNECTIONS_PER_IP: "1" });
  await t.step(
    "the open comes no earlier than asked, and the echo works",
    async () => {
      const sentAt = performance.now();
      const { socket, inbox } = await connect(
        `${server.ws}/echo?open_delay=400`,
        {
          timeoutMs: 10_000,
        },
      );
      const waited = performance.now() - sentAt;
      // No upper bound on the wait (a busy machine sets it): the connect's
      // 10 s deadline fails a delay read as seconds.
      assert.ok(waited >= 390, `opened after ${waited} ms`);
      socket.send("late but here");
      assert.equal(await inbox.next(), "late but here");
      await closeAndWait(socket, inbox);
    },
  );
  await t.step(
    "the slot is held meanwhile: it counts against the caps",
    async () => {
      await until(
        () => server.services.registry.countFor("127.0.0.1") === 0,
        "the first slot to be freed",
      );
      const opening = connect(`${server.ws}/echo?open_delay=1500`, {
        timeoutMs: 10_000,
      });
      await until(
        () => server.services.registry.countFor("127.0.0.1") === 1,
        "the delayed open to take its slot",
      );
      const second = await rawRequest(server.port, upgradeRequest("/echo"));
      assert.equal(second.status, 429);
      const { socket, inbox } = await opening;
      await closeAndWait(socket, inbox);
    },
  );
  await t.step(
    "a client that goes during the delay frees its slot",
    async () => {
      await until(
        () => server.services.registry.countFor("127.0.0.1") === 0,
        "the slot to be freed",
      );
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      await writeAll(
        conn,
        new TextEncoder().encode(upgradeRequest("/echo?open_delay=10000")),
      );
      await until(
        () => server.services.registry.countFor("127.0.0.1") === 1,
        "the delayed open to take its slot",
      );
      conn.close();
      await until(
        () => server.services.registry.countFor("127.0.0.1") === 0,
        "the slot to be freed well before the delay ends",
      );
    },
  );
});
