/**
 * A stop's close lines tell an answered close from an unanswered one
 * (newcomer8): each `ws_close` of a close this service started says whether
 * the client's Close came back (`answered`) and after how long
 * (`closeWaitMs`). Each case has its own service: the answering client with
 * a grace it cannot miss (with both on one service and a 1 s grace, a Close
 * answered 1.2 s late, as a busy machine can, was logged `answered=false`),
 * the silent one with a 1 s grace it waits out.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect } from "../_client.ts";
import { openRawWebSocket } from "../../bench/wire.ts";

/** The `ws_close` lines a test service logged. */
function closesOf(server: ReturnType<typeof startTestServer>) {
  return server.records.filter((record) => record.event === "ws_close");
}

Deno.test("at a stop, a client that answers the close is logged answered, one that never does answered=false after the grace", async (t) => {
  await t.step(
    "a client that answers the Close: answered, before the grace ends",
    async () => {
      // The longest grace: the stop ends once the Close comes back.
      await using server = startTestServer({ SHUTDOWN_GRACE_SECONDS: "60" });
      // Answers the server's Close at once, as browsers do.
      const answering = await connect(`${server.ws}/echo`);
      try {
        assert.equal(await server.server.shutdown(), true);
        assert.equal((await answering.inbox.closed()).code, 1001);
        const closes = closesOf(server);
        assert.equal(closes.length, 1, JSON.stringify(closes));
        assert.equal(closes[0]!.answered, true, JSON.stringify(closes));
        assert.equal(closes[0]!.code, 1001);
        assert.equal(typeof closes[0]!.closeWaitMs, "number");
      } finally {
        answering.socket.close();
      }
    },
  );

  await t.step(
    "a client that never answers: answered=false once the grace is out",
    async () => {
      await using server = startTestServer({ SHUTDOWN_GRACE_SECONDS: "1" });
      // Reads nothing more and never answers.
      const silent = await openRawWebSocket(server.port);
      try {
        assert.equal(await server.server.shutdown(), true);
        const closes = closesOf(server);
        assert.equal(closes.length, 1, JSON.stringify(closes));
        const [unanswered] = closes;
        assert.equal(unanswered!.answered, false, JSON.stringify(closes));
        assert.equal(unanswered!.code, 1001);
        // It waited out SHUTDOWN_GRACE_SECONDS.
        assert.ok(
          (unanswered!.closeWaitMs as number) >= 1000,
          JSON.stringify(unanswered),
        );
      } finally {
        silent.conn.close();
      }
    },
  );
});
