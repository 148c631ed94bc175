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
import { connect, type Inbox, withDeadline } from "../_client.ts";
import { startTestServer } from "../_server.ts";

const MiB = 1024 * 1024;
/** Past the 28-32 that filled the budget before, in one process. */
const CLIENTS = 40;
const ROUNDS = 3;
/**
 * The deadline for every echo of the {@link CLIENTS}, in ms: a bound for a
 * hang, not a measure of speed. The clients and the service share this one
 * process and move 240 MiB through it, and every client's first message
 * arrives interleaved with the others', so no echo comes before about 40
 * MiB are in: 1 s for the whole test at load average 2, 45 s at load 24
 * (the process had 3.9 s of CPU in 55 s). A deadline of 20 s per echo
 * failed at load ~33 with every echo sent and nothing closed, and beside
 * a SIGSTOP every other 50 ms at load 18 with none of the 120 echoed yet.
 */
const ECHOES_MS = 180_000;

/**
 * Sends `rounds` messages of `bytes`, each after the echo of the last
 * (awaited `timeoutMs` at most); `echoed` counts the echoes as they come.
 */
async function sendThenRead(
  socket: WebSocket,
  inbox: Inbox,
  bytes: number,
  options: { rounds: number; timeoutMs: number; echoed?: { count: number } },
): Promise<number> {
  let echoed = 0;
  for (let round = 0; round < options.rounds; round++) {
    socket.send(new Uint8Array(bytes).fill(round + 1));
    const echo = await inbox.next({ timeoutMs: options.timeoutMs });
    assert.ok(echo instanceof ArrayBuffer, "a binary echo");
    assert.equal(echo.byteLength, bytes);
    echoed++;
    if (options.echoed) options.echoed.count++;
  }
  return echoed;
}

Deno.test("honest clients of 1 MiB messages are all echoed at the default budget", async (t) => {
  await using server = startTestServer({
    // One address plays every client: the per-address cap is not the subject.
    MAX_CONNECTIONS_PER_IP: "0",
    // Nor is Deno's ping: a round trip can take longer than its 15 s for
    // a pong when this process gets a few percent of a core (8 clients
    // dropped 1001 "No response from ping frame" in an 80 s step, beside
    // a SIGSTOP every other 50 ms at load 29).
    PING_INTERVAL_SECONDS: "0",
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
        const came = { count: 0 };
        const echoed = await withDeadline(
          Promise.allSettled(
            clients.map(({ socket, inbox }) =>
              sendThenRead(socket, inbox, MiB, {
                rounds: ROUNDS,
                timeoutMs: ECHOES_MS,
                echoed: came,
              })
            ),
          ),
          ECHOES_MS,
          `${CLIENTS * ROUNDS} echoes`,
        ).catch((error) => {
          // Where the missing echoes are: each connection's messages
          // received and sent, as the service counts them.
          const counts = server.services.registry.connections().map((
            [connection],
          ) => connection.activity?.()).map((activity) =>
            `${activity?.messages}/${activity?.sent}`
          );
          throw new Error(
            `${error.message}: ${came.count} came; received/sent ${counts}; ${
              JSON.stringify(server.services.memory.state())
            }`,
          );
        });
        const failed = echoed.flatMap((result) =>
          result.status === "rejected" ? [String(result.reason)] : []
        );
        const closes = server.records.filter((record) =>
          record.event === "ws_close"
        ).map((record) => `${record.code} ${record.limit}`);
        assert.deepEqual(
          { failed: failed.slice(0, 3), closes },
          { failed: [], closes: [] },
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
    assert.equal(
      await sendThenRead(socket, inbox, 8 * MiB, {
        rounds: ROUNDS,
        timeoutMs: 20_000,
      }),
      ROUNDS,
    );
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
