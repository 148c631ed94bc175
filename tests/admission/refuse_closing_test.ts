/**
 * A refusal where the open-file limit bounds the cap ends its body in
 * `RefusalClosed`, so Deno closes the connection once the text is written
 * (tests/start/learned_cap_test.ts sees the close on a real socket); where
 * descriptors are plenty it is a whole answer, as before.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Metrics } from "../../lib/metrics.ts";
import { refusal } from "../../lib/refusals.ts";
import { RefusalLog } from "../../lib/admission/refusal_log.ts";
import { RefusalClosed, refuse } from "../../lib/admission/refuse.ts";
import { onError } from "../../lib/start/listener.ts";

/** Refuses one upgrade past a cap of 3 with the registry's flag as given. */
function refusedPastCap(closesRefusals: boolean): Response {
  const refusalLog = new RefusalLog(() => {});
  try {
    return refuse(
      { metrics: new Metrics(), refusalLog, registry: { closesRefusals } },
      { kind: "ws", path: "/echo", ip: "127.0.0.1" },
      refusal("total", { max: 3, taken: 3, leaked: 0 }),
    );
  } finally {
    refusalLog.dispose();
  }
}

Deno.test("a refusal closes its connection once answered only where the limit bounds the cap", async (t) => {
  await t.step(
    "bound: the text, then RefusalClosed ends the body",
    async () => {
      const response = refusedPastCap(true);
      assert.equal(response.status, 503);
      const reader = response.body!.getReader();
      const first = await reader.read();
      assert.match(
        new TextDecoder().decode(first.value),
        /^Server full: 3 connections open/,
      );
      await assert.rejects(reader.read(), RefusalClosed);
    },
  );

  await t.step("not bound: a whole answer, the connection kept", async () => {
    const response = refusedPastCap(false);
    assert.equal(response.status, 503);
    assert.match(await response.text(), /^Server full: 3 connections open/);
  });

  await t.step("the server's onError keeps quiet about RefusalClosed", () => {
    const logged: unknown[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      assert.equal(onError(new RefusalClosed()).status, 500);
      assert.equal(logged.length, 0);
      assert.equal(onError(new Error("a fault")).status, 500);
      assert.equal(logged.length, 1, "any other error is logged");
    } finally {
      console.error = error;
    }
  });
});
