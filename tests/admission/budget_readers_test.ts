/**
 * The memory budget is for clients that do not read, not for honest clients
 * of large messages: many clients that each send a 1 MiB message, read its
 * echo and send the next are all echoed at the defaults (stranger13 #1: 32
 * such clients at once were all closed 1013 `limit=memory_budget`, each
 * counted about 4 MiB against the 96 MiB budget, and once one was refused
 * the rest were refused behind it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type Inbox } from "../_client.ts";
import { startTestServer } from "../_server.ts";

const MiB = 1024 * 1024;
/** Past the 28-32 that filled the budget before, in one process. */
const CLIENTS = 40;
const ROUNDS = 3;

/** Sends `rounds` messages of `bytes`, each after the echo of the last. */
async function sendThenRead(
  socket: WebSocket,
  inbox: Inbox,
  bytes: number,
  rounds: number,
): Promise<number> {
  let echoed = 0;
  for (let round = 0; round < rounds; round++) {
    socket.send(new Uint8Array(bytes).fill(round + 1));
    const echo = await inbox.next({ timeoutMs: 20_000 });
    assert.ok(echo instanceof ArrayBuffer, "a binary echo");
    assert.equal(echo.byteLength, bytes);
    echoed++;
  }
  return echoed;
}

Deno.test("honest clients of 1 MiB messages are all echoed at the default budget", async (t) => {
  await using server = startTestServer({
    // One address plays every client: the per-address cap is not the subject.
    MAX_CONNECTIONS_PER_IP: "0",
  });
  const budget = server.services.memory.state().budgetBytes;
  await t.step("the budget is the default 96 MiB", () => {
    assert.equal(budget, 96 * MiB);
  });
  const clients = await Promise.all(
    Array.from(
      { length: CLIENTS },
      () => connect(`${server.ws}/echo`, { timeoutMs: 20_000 }),
    ),
  );
  try {
    await t.step(
      `${CLIENTS} clients sending 1 MiB and reading each echo get ${ROUNDS} echoes each, none closed`,
      async () => {
        const echoed = await Promise.allSettled(
          clients.map(({ socket, inbox }) =>
            sendThenRead(socket, inbox, MiB, ROUNDS)
          ),
        );
        const failed = echoed.filter((result) => result.status === "rejected");
        const closes = server.records.filter((record) =>
          record.event === "ws_close"
        ).map((record) => `${record.code} ${record.limit}`);
        assert.deepEqual(
          { failed: failed.length, closes },
          { failed: 0, closes: [] },
        );
        assert.equal(server.services.memory.state().shed.memory_budget, 0);
      },
    );
  } finally {
    for (const { socket } of clients) socket.close(1000);
    await Promise.all(
      clients.map(({ inbox }) => inbox.closed({ timeoutMs: 10_000 })),
    );
    await server.allClosed({ timeoutMs: 10_000 });
  }
});

Deno.test("a client that reads every echo is not a slow reader for a message larger than MAX_BUFFERED_BYTES", async () => {
  // stranger13 R11: MAX_MESSAGE_BYTES raised to 16 MiB, MAX_BUFFERED_BYTES
  // left at 4 MiB; the 8 MiB uploader was closed 1008 on its second message.
  await using server = startTestServer({
    MAX_MESSAGE_BYTES: String(16 * MiB),
    MAX_BUFFERED_BYTES: String(4 * MiB),
    RATE_LIMIT_BYTES_PER_SECOND: "0",
  });
  const { socket, inbox } = await connect(`${server.ws}/echo`, {
    timeoutMs: 20_000,
  });
  try {
    assert.equal(await sendThenRead(socket, inbox, 8 * MiB, ROUNDS), ROUNDS);
    assert.deepEqual(
      server.records.filter((record) => record.event === "ws_close"),
      [],
    );
  } finally {
    socket.close(1000);
    await inbox.closed({ timeoutMs: 10_000 });
    await server.allClosed({ timeoutMs: 10_000 });
  }
});
