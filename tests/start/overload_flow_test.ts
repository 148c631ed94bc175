/**
 * What the overload watch reads as flow, counted by the app for real
 * sockets: every request as it arrives, WebSocket upgrades included, so a
 * ramp of new connections on a held loop is work, not a flood (a burst of
 * 1,280 upgrades was once counted as none and recycled the listener,
 * `deno run -A bench/burst_bystander.ts --busy`).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { openWebSocket } from "../_client.ts";

Deno.test("every request counts as flow as it arrives, upgrades answered before routing included", async () => {
  await using server = startTestServer();
  const { metrics } = server.services;
  const before = metrics.httpRequests;
  const sockets = await Promise.all(
    ["/echo", "/echo", "/stream?count=1", "/", "/inspect"].map((path) =>
      openWebSocket(`${server.ws}${path}`)
    ),
  );
  try {
    assert.equal(metrics.httpRequests - before, 5, "five upgrades");
    await (await fetch(`${server.http}/healthz`)).body?.cancel();
    assert.equal(metrics.httpRequests - before, 6, "and one GET");
  } finally {
    for (const socket of sockets) socket.close();
    await server.allClosed();
  }
});
