/**
 * What the overload watch reads as flow, counted by the app for real
 * sockets: every request as it arrives, WebSocket upgrades included, for
 * where the kernel's count cannot be read (a ramp of new connections on a
 * held loop is work, not a flood: a burst of 1,280 upgrades was once
 * counted as none and recycled the listener, `deno run -A
 * bench/burst_bystander.ts --busy`); and of them the plain requests the app
 * answers, the only requests that count where it can (an upgrade brings no
 * message, and a flood split across fresh connections upgrades all the
 * time, `overload_sample.ts`).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { openWebSocket } from "../_client.ts";

Deno.test("every request counts as it arrives, upgrades answered before routing included; plain requests apart", async () => {
  await using server = startTestServer();
  const { metrics } = server.services;
  const before = { all: metrics.httpRequests, plain: metrics.plainRequests };
  const sockets = await Promise.all(
    ["/echo", "/echo", "/stream?count=1", "/", "/inspect"].map((path) =>
      openWebSocket(`${server.ws}${path}`)
    ),
  );
  try {
    assert.equal(metrics.httpRequests - before.all, 5, "five upgrades");
    assert.equal(metrics.plainRequests - before.plain, 0, "none plain");
    await (await fetch(`${server.http}/healthz`)).body?.cancel();
    assert.equal(metrics.httpRequests - before.all, 6, "and one GET");
    assert.equal(metrics.plainRequests - before.plain, 1, "a plain one");
  } finally {
    for (const socket of sockets) socket.close();
    await server.allClosed();
  }
});
