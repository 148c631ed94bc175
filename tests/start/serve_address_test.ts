import assert from "node:assert/strict";
import {
  SERVE_ADDRESS_WAIT_MS,
  ServeAddress,
} from "../../lib/start/serve_address.ts";

// Two instances in one isolate stand for two workers: a BroadcastChannel
// reaches every other instance with its name, never itself.

Deno.test("ServeAddress.ask() gets the main worker's address, or undefined when no worker listened", async (t) => {
  await t.step("the main worker answers", async () => {
    const main = new ServeAddress();
    const other = new ServeAddress();
    try {
      main.listening({ hostname: "127.0.0.1", port: 4321 });
      assert.deepEqual(await other.ask(), {
        hostname: "127.0.0.1",
        port: 4321,
      });
    } finally {
      main.close();
      other.close();
    }
  });
  await t.step("nobody listened: undefined after the wait", async () => {
    const main = new ServeAddress();
    const other = new ServeAddress();
    try {
      const started = performance.now();
      assert.equal(await other.ask(), undefined);
      assert.ok(performance.now() - started >= SERVE_ADDRESS_WAIT_MS - 50);
    } finally {
      main.close();
      other.close();
    }
  });
});

Deno.test("ServeAddress.otherWorkersAccepting() is true only when another worker's own listener accepts", async (t) => {
  let accepting = true;
  const other = new ServeAddress(() => accepting);
  const self = new ServeAddress(() => true);
  try {
    await t.step("another accepts", async () => {
      assert.equal(await self.otherWorkersAccepting(), true);
    });
    await t.step(
      "none accepts (this one's own answer does not count)",
      async () => {
        accepting = false;
        assert.equal(await self.otherWorkersAccepting(), false);
      },
    );
  } finally {
    other.close();
    self.close();
  }
});
