/**
 * Plain HTTP requests are limited per address (RATE_LIMIT_IP_REQUESTS_PER_SECOND
 * up to RATE_LIMIT_IP_REQUEST_BURST) and per network (an IPv4 /24, NETWORK_SHARE
 * times that): past it `429` with `Retry-After`, counted and logged; other
 * addresses and networks and upgrades are not affected; the table of
 * addresses stays bounded.
 *
 * @module
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { RequestRate } from "../../lib/admission/request_rate.ts";
import { NETWORK_SHARE } from "../../lib/admission/client_ip.ts";
import { refusal } from "../../lib/refusals.ts";
import { startTestServer } from "../_server.ts";
import { connect, until } from "../_client.ts";
import { httpOpen } from "../../bench/wire.ts";

Deno.test("RequestRate keeps its table of addresses bounded", async (t) => {
  await t.step("past maxAddresses the least recently used is forgotten", () => {
    const rate = new RequestRate({
      ratePerSecond: 1,
      burst: 1,
      maxAddresses: 3,
    });
    for (const key of ["a", "b", "c"]) assert.equal(rate.take(key, 0), 0);
    // "a" used again: "b" is now the least recently used, and goes for "d".
    assert.equal(rate.take("a", 0), 1);
    assert.equal(rate.take("d", 0), 0);
    assert.equal(rate.take("a", 0), 1, "a is remembered: still spent");
    assert.equal(rate.take("b", 0), 0, "b was forgotten: a fresh burst");
    for (let i = 0; i < 100; i++) rate.take(`rotating-${i}`, 0);
    assert.equal(rate.size, 3);
  });
  await t.step(
    "a forgotten address starts with a full burst, never a stricter one",
    () => {
      const rate = new RequestRate({
        ratePerSecond: 1,
        burst: 2,
        maxAddresses: 2,
      });
      rate.take("a", 0);
      rate.take("a", 0);
      assert.equal(rate.take("a", 0), 1, "spent");
      rate.take("b", 0);
      rate.take("c", 0);
      assert.equal(rate.take("a", 0), 0, "forgotten, so a fresh burst");
    },
  );
  await t.step("0 requests a second is off: nothing is tracked", () => {
    const rate = new RequestRate({ ratePerSecond: 0, burst: 1 });
    for (let i = 0; i < 10; i++) assert.equal(rate.take("a", 0), 0);
    assert.equal(rate.size, 0);
  });
});

/** The status of one GET from `localAddress`. */
async function statusFrom(
  port: number,
  localAddress: string,
  path: string,
): Promise<number> {
  const sockets = new Set<net.Socket>();
  const { socket, status } = await httpOpen({
    port,
    localAddress,
    timeoutMs: 5000,
    sockets,
    request: `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  });
  socket.destroy();
  return status;
}

Deno.test("plain HTTP requests past an address's rate get 429 with Retry-After", async (t) => {
  await using server = startTestServer({
    RATE_LIMIT_IP_REQUESTS_PER_SECOND: "1",
    RATE_LIMIT_IP_REQUEST_BURST: "3",
  });
  await t.step("the burst goes through, the next is refused", async () => {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.http}/healthz`);
      await response.body?.cancel();
      assert.equal(response.status, 200, `request ${i + 1}`);
    }
    const refused = await fetch(`${server.http}/metrics`);
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal(refused.headers.get("cache-control"), "no-store");
    assert.match(
      await refused.text(),
      /^Too many requests from 127\.0\.0\.1: at most 1 a second \(RATE_LIMIT_IP_REQUESTS_PER_SECOND\)\. Retry later\n$/,
    );
  });
  await t.step(
    "a plain GET of /echo (no Upgrade) is a plain request too",
    async () => {
      assert.equal(await statusFrom(server.port, "127.0.24.2", "/echo"), 426);
      assert.equal(await statusFrom(server.port, "127.0.24.2", "/echo"), 426);
      assert.equal(await statusFrom(server.port, "127.0.24.2", "/echo"), 426);
      assert.equal(await statusFrom(server.port, "127.0.24.2", "/echo"), 429);
    },
  );
  await t.step("another address is not affected", async () => {
    assert.equal(await statusFrom(server.port, "127.0.24.1", "/healthz"), 200);
  });
  await t.step(
    "an upgrade from the refused address still connects",
    async () => {
      const { socket, inbox } = await connect(`${server.ws}/echo`);
      socket.send("still here");
      assert.equal(await inbox.next(), "still here");
      socket.close();
      await inbox.closed();
    },
  );
  await t.step("counted in /metrics and logged", () => {
    assert.equal(server.services.metrics.refusals.get("request_rate"), 2);
    assert.ok(
      server.logs.some((line) =>
        /^http refused ip=127\.0\.0\.1 reason=request_rate status=429 path=\/metrics$/
          .test(line)
      ),
      server.logs.join("\n"),
    );
  });
});

Deno.test("a flood of refusals from one address is logged once at once, then as a count a second", async () => {
  await using server = startTestServer({
    RATE_LIMIT_IP_REQUESTS_PER_SECOND: "1",
    RATE_LIMIT_IP_REQUEST_BURST: "1",
  });
  const statuses = await Promise.all(
    Array.from(
      { length: 40 },
      () => statusFrom(server.port, "127.0.24.9", "/healthz"),
    ),
  );
  const refusals = statuses.filter((status) => status === 429).length;
  assert.ok(refusals >= 38, `refused ${refusals} of 40`);
  const lines = () =>
    server.records.filter((r) =>
      r.event === "http_refused" && r.ip === "127.0.24.9"
    );
  assert.equal(
    lines().filter((r) => r.repeated === undefined).length,
    1,
    server.logs.join("\n"),
  );
  const repeated = () =>
    lines().reduce((sum, r) => sum + Number(r.repeated ?? 0), 0);
  await until(() => repeated() === refusals - 1, "the count line");
  assert.ok(lines().length <= 3, server.logs.join("\n"));
  assert.match(
    server.logs.findLast((line) => line.includes("repeated="))!,
    /^http refused ip=127\.0\.24\.9 reason=request_rate status=429 path=\/healthz repeated=\d+ interval_ms=\d+$/,
  );
});

Deno.test("the default request rate lets a page load and a /healthz poll through", async () => {
  await using server = startTestServer();
  // A page load is about 30 requests; a test polls /healthz 10-20 times a second.
  for (let i = 0; i < 60; i++) {
    const response = await fetch(`${server.http}/${i % 2 ? "healthz" : ""}`);
    await response.body?.cancel();
    assert.equal(response.status, 200, `request ${i + 1}`);
  }
});

Deno.test("plain HTTP requests: the addresses of one network share NETWORK_SHARE times one address's rate", async (t) => {
  await using server = startTestServer({
    RATE_LIMIT_IP_REQUESTS_PER_SECOND: "1",
    RATE_LIMIT_IP_REQUEST_BURST: "3",
  });
  const networkBurst = NETWORK_SHARE * 3;
  /** Three requests from each of `addresses`, the addresses at once. */
  const fromEach = async (addresses: string[]) => {
    const started = performance.now();
    const statuses = (await Promise.all(addresses.map(async (address) => {
      const got = [];
      for (let i = 0; i < 3; i++) {
        got.push(await statusFrom(server.port, address, "/healthz"));
      }
      return got;
    }))).flat();
    return { statuses, seconds: (performance.now() - started) / 1000 };
  };
  await t.step(
    "one address past its own rate does not spend its network's share",
    async () => {
      const statuses = [];
      for (let i = 0; i < networkBurst; i++) {
        statuses.push(await statusFrom(server.port, "127.0.25.1", "/healthz"));
      }
      assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
      assert.ok(statuses.includes(429), statuses.join(" "));
      // Had the refused requests been counted, the network's burst would be
      // spent; only the few served were.
      const { statuses: others } = await fromEach(["127.0.25.2", "127.0.25.3"]);
      assert.deepEqual(others, Array(6).fill(200));
    },
  );
  await t.step(
    "eight addresses each within their own burst are refused past the network's",
    async () => {
      const addresses = Array.from(
        { length: 8 },
        (_, i) => `127.0.26.${i + 1}`,
      );
      const { statuses, seconds } = await fromEach(addresses);
      const served = statuses.filter((status) => status === 200).length;
      assert.deepEqual(
        statuses.filter((status) => status !== 200 && status !== 429),
        [],
      );
      // The burst plus what the network's rate refilled meanwhile.
      assert.ok(
        served <= networkBurst + Math.ceil(NETWORK_SHARE * seconds) + 1,
        `${served} of ${statuses.length} served in ${seconds.toFixed(1)} s`,
      );
      assert.ok(served < statuses.length, "some were refused");
    },
  );
  await t.step("another network is not affected", async () => {
    assert.equal(await statusFrom(server.port, "127.0.27.1", "/healthz"), 200);
  });
  await t.step("the refusal names the network and its rate", () => {
    assert.equal(
      refusal("request_rate", {
        client: "127.0.26.0/24",
        perSecond: NETWORK_SHARE,
        network: NETWORK_SHARE,
      }).body,
      `Too many requests from 127.0.26.0/24: at most ${NETWORK_SHARE} a second (${NETWORK_SHARE} x RATE_LIMIT_IP_REQUESTS_PER_SECOND for a network). Retry later\n`,
    );
  });
});
