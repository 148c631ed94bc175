import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect } from "../_client.ts";

// Attack review: the per-address message bucket used to live only while the
// address held a slot, and a rate-limit close frees the slot at once, so an
// address got a fresh burst by reconnecting (132,000 echoes/s measured
// against RATE_LIMIT_IP_MESSAGES_PER_SECOND=2000). The registry now keeps it
// until it has refilled.
Deno.test("reconnecting does not refill RATE_LIMIT_IP_MESSAGE_BURST", async () => {
  await using server = startTestServer({
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    RATE_LIMIT_IP_MESSAGES_PER_SECOND: "1",
    RATE_LIMIT_IP_MESSAGE_BURST: "20",
  });
  const first = await connect(`${server.ws}/echo`);
  // The bucket refills at 1 message/s from when the first burst empties it,
  // which is after this: the time from here bounds what it can have regained.
  const burstSent = performance.now();
  for (let i = 0; i < 23; i++) first.socket.send("a");
  assert.deepEqual(await first.inbox.take(20), Array(20).fill("a"));
  const close = await first.inbox.closed();
  assert.equal(close.code, 1008);

  // The same address comes straight back: its burst is spent.
  const second = await connect(`${server.ws}/echo`);
  for (let i = 0; i < 10; i++) second.socket.send("b");
  const secondClose = await second.inbox.closed({ timeoutMs: 3000 }).catch(
    () => undefined,
  );
  // Read once the service has taken the messages: a stall before that
  // refills the bucket, so an earlier reading could say too little.
  const refillSeconds = (performance.now() - burstSent) / 1000;
  const echoed = second.inbox.pending;
  if (secondClose === undefined) {
    await closeAndWait(second.socket, second.inbox);
  }
  assert.equal(
    secondClose?.code,
    1008,
    `the reconnected client got ${echoed} of 10 echoes and was not limited`,
  );
  // What it regained while the test ran (slow on a busy machine), never a
  // fresh burst of 20.
  const regained = Math.floor(refillSeconds) + 1;
  assert.ok(
    echoed <= regained,
    `echoed ${echoed} of 10 after ${refillSeconds.toFixed(1)} s of refill`,
  );
});
