/**
 * `/healthz` says `full` (still 200) while no slot is free under
 * MAX_CONNECTIONS, since every upgrade is then refused `503`: it said `ok`
 * while a minute of newcomers were all refused (stranger16 F6, issue #20).
 * A slot held for a closed slow reader whose socket is gone frees room for
 * others and is shown apart (`cap.heldPerIp`). In process, no server.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Lease } from "../../lib/admission/slots.ts";
import { createApp } from "../../routes/app.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

Deno.test("/healthz says full (200) while no slot is free, and ok once a held slot's socket is gone", async (t) => {
  const { app, services } = createApp(
    { ...DEFAULT_CONFIG, maxConnections: 2 },
    { log: () => {} },
  );
  const { registry } = services;
  const health = async () => {
    const response = await app.request("/healthz");
    return { code: response.status, body: await response.json() };
  };
  const slow = registry.admit("192.0.2.1") as Lease;
  registry.admit("192.0.2.2");
  try {
    await t.step("both slots taken: full, still 200", async () => {
      const { code, body } = await health();
      assert.equal(code, 200);
      assert.equal(body.status, "full");
      assert.deepEqual(body.cap, {
        max: 2,
        taken: 2,
        held: 0,
        heldPerIp: 0,
        leaked: 0,
        free: 0,
      });
    });
    await t.step(
      "a slow reader closed, its socket still there: held, still full",
      async () => {
        slow.holdFor(60_000);
        slow.release();
        const { body } = await health();
        assert.equal(body.status, "full");
        assert.equal(body.cap.held, 1);
      },
    );
    await t.step(
      "its socket gone: ok, the slot held for its address only",
      async () => {
        slow.socketGone();
        const { body } = await health();
        assert.equal(body.status, "ok");
        assert.deepEqual(
          [body.cap.taken, body.cap.held, body.cap.heldPerIp, body.cap.free],
          [1, 0, 1, 1],
        );
      },
    );
  } finally {
    registry.dispose();
  }
});
