/**
 * Rooms under abuse (issue #26's attack review): presence streams do not use
 * up MAX_ROOMS, a room's options are its own, a plain GET describes a room,
 * and the memory guard sheds room members at the budget. Real sockets on
 * loopback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import { closeAndWait, connect, readTextUntil, until } from "../_client.ts";
import {
  clientFrame,
  openRawWebSocket,
  rawRequest,
  upgradeRequest,
  writeAll,
} from "../../bench/wire.ts";

/** Opens `/room/NAME/presence` and reads its first (snapshot) event. */
async function watch(http: string, name: string) {
  const response = await fetch(`${http}/room/${name}/presence`);
  assert.equal(response.status, 200, `presence of ${name}`);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  const text = await readTextUntil(
    reader,
    (text) => text.includes("\n\n"),
    `the first presence event of ${name}`,
    { timeoutMs: 10_000 },
  );
  assert.match(text, /"change":"snapshot"/);
  return reader;
}

Deno.test("presence streams create no room that keeps a member out", async () => {
  await using server = startTestServer({ MAX_ROOMS: "1" });
  const watchers = [];
  for (const name of ["a", "b", "c"]) {
    watchers.push(await watch(server.http, name));
  }
  assert.equal(server.services.rooms.state().rooms, 0, "watched, not open");
  const member = await connect(`${server.ws}/room/d`);
  assert.equal(server.services.rooms.state().rooms, 1);
  const refused = await rawRequest(server.port, upgradeRequest("/room/e"));
  assert.equal(refused.status, 503, "MAX_ROOMS still holds for members");
  assert.match(refused.body, /1 room is open/);
  watchers.push(await watch(server.http, "e"));
  await closeAndWait(member.socket, member.inbox);
  for (const reader of watchers) await reader.cancel();
  await until(
    () => server.services.rooms.state().rooms === 0,
    "the room to close",
  );
});

Deno.test("a room takes its own options only, each once", async (t) => {
  await using server = startTestServer();
  const upgrade = (path: string) =>
    rawRequest(server.port, upgradeRequest(path));
  await t.step("self given twice is refused with 400 naming it", async () => {
    const refused = await upgrade("/room/opts?self=1&self=1");
    assert.equal(refused.status, 400);
    assert.match(
      refused.body,
      /Invalid option "self": given twice; expected 0 or 1, once/,
    );
  });
  for (const option of ["delay=5", "format=json", "status=500", "count=3"]) {
    await t.step(`${option} is refused with 400 naming it`, async () => {
      const refused = await upgrade(`/room/opts?${option}`);
      assert.equal(refused.status, 400);
      const name = option.split("=")[0];
      assert.match(
        refused.body,
        new RegExp(`Invalid option "${name}": does not apply to /room/NAME`),
      );
      assert.match(refused.body, /self: \/room\/NAME: 1 to receive/);
      assert.doesNotMatch(refused.body, /delay: milliseconds/);
    });
  }
  await t.step("a plain GET with status= is told the same", async () => {
    const response = await fetch(`${server.http}/room/opts?status=500`);
    assert.equal(response.status, 400);
    assert.match(await response.text(), /"status": does not apply/);
  });
  await t.step("parameters that are not options are ignored", async () => {
    const member = await connect(`${server.ws}/room/opts?self=1&EIO=4`);
    member.socket.send("mine");
    assert.equal(await member.inbox.next(), "mine", "self=1 applies");
    await closeAndWait(member.socket, member.inbox);
  });
  await t.step("self elsewhere is refused with 400", async () => {
    const refused = await upgrade("/echo?self=1");
    assert.equal(refused.status, 400);
    assert.match(refused.body, /"self": only applies to \/room\/NAME/);
  });
});

Deno.test("a plain GET of /room/NAME describes a room, not an echo", async () => {
  await using server = startTestServer();
  const response = await fetch(`${server.http}/room/lobby`);
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  const body = await response.text();
  assert.match(
    body,
    /ws:\/\/127\.0\.0\.1:\d+\/room\/lobby is a WebSocket room/,
  );
  assert.doesNotMatch(body, /echo/);
});

Deno.test("room fan-out sheds members as soon as what they hold passes MEMORY_BUDGET_BYTES", async () => {
  const budget = 8 * 1024 * 1024;
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(budget),
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    RATE_LIMIT_IP_MESSAGES_PER_SECOND: "0",
    MAX_CONNECTIONS_PER_IP: "0",
  });
  const { memory } = server.services;
  // What the guard counted when it first shed: the charge that passed the
  // budget is one receiver's step (a message, its frame, the 1 MiB in flight).
  // A shed comes from a charge or, for a member already behind, from its
  // next send (`shedOne`); after it the others may get no charge at all.
  let atFirstShed: number | undefined;
  const charge = memory.charge.bind(memory);
  memory.charge = (connection, bytes) => {
    charge(connection, bytes);
    const state = memory.state();
    if (atFirstShed === undefined && state.shed.memory_budget > 0) {
      atFirstShed = state.usedBytes;
    }
  };
  const shedOne = memory.shedOne.bind(memory);
  memory.shedOne = (connection, cause) => {
    atFirstShed ??= memory.state().usedBytes;
    shedOne(connection, cause);
  };
  const readers = [];
  for (let i = 0; i < 16; i++) {
    readers.push(
      (await openRawWebSocket(server.port, { path: "/room/fan" })).conn,
    );
  }
  const sender = await openRawWebSocket(server.port, { path: "/room/fan" });
  try {
    await until(() => server.services.rooms.members === 17, "members open");
    const frame = clientFrame(0x2, new Uint8Array(64 * 1024));
    for (let sent = 0; atFirstShed === undefined; sent++) {
      assert.ok(sent < 2_000, `no shed after ${sent} messages`);
      await writeAll(sender.conn, frame);
    }
    assert.ok(
      atFirstShed <= budget + 1.25 * 1024 * 1024,
      `first shed at ${(atFirstShed / budget * 100).toFixed(0)}% of the budget`,
    );
  } finally {
    memory.charge = charge;
    memory.shedOne = shedOne;
    for (const conn of [...readers, sender.conn]) conn.close();
  }
  await server.allClosed({ timeoutMs: 30_000 });
});
