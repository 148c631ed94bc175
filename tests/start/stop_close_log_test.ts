/**
 * A stop's close lines tell an answered close from an unanswered one
 * (newcomer8): each `ws_close` of a close this service started says whether
 * the client's Close came back (`answered`) and after how long
 * (`closeWaitMs`).
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { connect } from "../_client.ts";
import { openRawWebSocket } from "../../bench/wire.ts";

Deno.test("at a stop, a client that answers the close is logged answered, one that never does answered=false after the grace", async () => {
  await using server = startTestServer({ SHUTDOWN_GRACE_SECONDS: "1" });
  // Answers the server's Close at once, as browsers do.
  const answering = await connect(`${server.ws}/echo`);
  // Reads nothing more and never answers.
  const silent = await openRawWebSocket(server.port);
  try {
    const stopped = await server.server.shutdown();
    assert.equal(stopped, true);
    assert.equal((await answering.inbox.closed()).code, 1001);
    const closes = server.records.filter((record) =>
      record.event === "ws_close"
    );
    assert.equal(closes.length, 2, JSON.stringify(closes));
    const answered = closes.find((record) => record.answered === true);
    const unanswered = closes.find((record) => record.answered === false);
    assert.ok(answered, JSON.stringify(closes));
    assert.ok(unanswered, JSON.stringify(closes));
    for (const record of closes) assert.equal(record.code, 1001);
    // The unanswered one waited out SHUTDOWN_GRACE_SECONDS.
    assert.ok(
      (unanswered.closeWaitMs as number) >= 1000,
      JSON.stringify(unanswered),
    );
  } finally {
    silent.conn.close();
    answering.socket.close();
  }
});
