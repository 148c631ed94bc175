/**
 * The default listener takes IPv6 and IPv4 clients.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";

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
