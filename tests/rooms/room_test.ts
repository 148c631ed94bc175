import assert from "node:assert/strict";
import { startTestServer } from "../_server.ts";
import {
  closeAndWait,
  connect,
  type Inbox,
  until,
  withDeadline,
} from "../_client.ts";
import {
  clientFrame,
  openRawWebSocket,
  rawRequest,
  upgradeRequest,
  writeAll,
} from "../../bench/wire.ts";
import { ROOM_NAME_RULE } from "../../lib/rooms/room_name.ts";
import { RoomRegistry } from "../../lib/rooms/registry.ts";
import { REFUSALS } from "../../lib/refusals.ts";
import { SSE_STREAM_BYTES } from "../../lib/connection/leased_stream.ts";

type Member = { socket: WebSocket; inbox: Inbox };

async function join(url: string, count: number): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 0; i < count; i++) members.push(await connect(url));
  return members;
}

async function leave(members: Member[]): Promise<void> {
  for (const { socket, inbox } of members) await closeAndWait(socket, inbox);
}

Deno.test("room members exchange text and binary unchanged", async (t) => {
  await using server = startTestServer();
  const [alice, bob] = await join(`${server.ws}/room/tea`, 2);
  await until(
    () => server.services.rooms.members === 2,
    "both members to be open",
  );

  await t.step("text arrives as the same text", async () => {
    const text = "héllo, 世界 😀";
    alice!.socket.send(text);
    assert.equal(await bob!.inbox.next(), text);
  });

  await t.step("binary arrives byte for byte", async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    bob!.socket.send(bytes);
    const got = await alice!.inbox.next();
    assert.ok(got instanceof ArrayBuffer, "binary stays binary");
    assert.deepEqual(new Uint8Array(got), bytes);
  });

  await t.step("the sender does not get its own message back", async () => {
    alice!.socket.send("one");
    assert.equal(await bob!.inbox.next(), "one");
    bob!.socket.send("two");
    assert.equal(await alice!.inbox.next(), "two", "not 'one'");
  });

  await t.step("'Goodbye' is relayed and closes nobody", async () => {
    alice!.socket.send("Goodbye");
    assert.equal(await bob!.inbox.next(), "Goodbye");
    bob!.socket.send("still here");
    assert.equal(await alice!.inbox.next(), "still here");
  });

  await leave([alice!, bob!]);
  await until(() => server.services.rooms.state().rooms === 0, "room gone");
});

Deno.test("a member of another room sees nothing", async () => {
  await using server = startTestServer();
  const [a1, a2] = await join(`${server.ws}/room/a`, 2);
  const [b1, b2] = await join(`${server.ws}/room/b`, 2);
  await until(() => server.services.rooms.members === 4, "members open");
  a1!.socket.send("for room a");
  assert.equal(await a2!.inbox.next(), "for room a");
  // Fan-out is done for every local member before a2 has its copy, so b1
  // would have "for room a" queued before this.
  b2!.socket.send("for room b");
  assert.equal(await b1!.inbox.next(), "for room b");
  assert.equal(a1!.inbox.pending, 0);
  await leave([a1!, a2!, b1!, b2!]);
});

Deno.test("self=1 sends a member its own messages too", async () => {
  await using server = startTestServer();
  const loud = await connect(`${server.ws}/room/echoes?self=1`);
  const quiet = await connect(`${server.ws}/room/echoes`);
  await until(() => server.services.rooms.members === 2, "members open");
  loud.socket.send("mine");
  assert.equal(await loud.inbox.next(), "mine");
  assert.equal(await quiet.inbox.next(), "mine");
  quiet.socket.send("theirs");
  assert.equal(await loud.inbox.next(), "theirs");
  await leave([loud, quiet]);
});

Deno.test("a bad room name is refused with 400 naming the rule", async (t) => {
  await using server = startTestServer();
  for (
    const path of [
      "/room/",
      "/room",
      "/room/a%20b",
      "/room/caf%C3%A9",
      `/room/${"x".repeat(65)}`,
      "/room/a/b",
      "/room/a.b",
    ]
  ) {
    await t.step(path.slice(0, 20), async () => {
      const response = await rawRequest(server.port, upgradeRequest(path));
      assert.equal(response.status, 400);
      assert.match(response.body, new RegExp(ROOM_NAME_RULE));
    });
  }
  await t.step("64 characters is a name", async () => {
    const { socket, inbox } = await connect(
      `${server.ws}/room/${"x".repeat(64)}`,
    );
    await closeAndWait(socket, inbox);
  });
  assert.equal(server.services.metrics.refusals.get("bad_room_name"), 7);
});

Deno.test("a bad option is refused with 400", async () => {
  await using server = startTestServer();
  const response = await rawRequest(
    server.port,
    upgradeRequest("/room/ok?self=yes"),
  );
  assert.equal(response.status, 400);
  assert.match(response.body, /Invalid option "self": expected 0 or 1/);
});

Deno.test("a full room refuses the next member with 429 and the reason", async () => {
  await using server = startTestServer({ ROOM_MAX_MEMBERS: "2" });
  const members = await join(`${server.ws}/room/small`, 2);
  const refused = await rawRequest(server.port, upgradeRequest("/room/small"));
  assert.equal(refused.status, 429);
  assert.match(refused.body, /Room "small" is full: at most 2 members/);
  const other = await connect(`${server.ws}/room/other`);
  await leave([...members, other]);
  assert.equal(server.services.metrics.refusals.get("room_full"), 1);
});

Deno.test("a room of one says its cap in the singular", () => {
  assert.match(
    REFUSALS.room_full.body({ room: "solo", max: 1 }),
    /^Room "solo" is full: at most 1 member \(ROOM_MAX_MEMBERS\)/,
  );
});

Deno.test("MAX_ROOMS caps the rooms of an instance; 0 turns rooms off", async (t) => {
  await t.step("MAX_ROOMS=0 refuses every room with 503", async () => {
    await using server = startTestServer({ MAX_ROOMS: "0" });
    const refused = await rawRequest(server.port, upgradeRequest("/room/any"));
    assert.equal(refused.status, 503);
    assert.match(refused.body, /Rooms are turned off/);
    const plain = await fetch(`${server.http}/room/any`);
    assert.equal(plain.status, 503, "a plain GET says so too");
    await plain.body?.cancel();
    const { socket, inbox } = await connect(`${server.ws}/echo`);
    await closeAndWait(socket, inbox);
  });
  await t.step("MAX_ROOMS=1 refuses a second room, not the first", async () => {
    await using server = startTestServer({ MAX_ROOMS: "1" });
    const members = await join(`${server.ws}/room/first`, 2);
    const refused = await rawRequest(
      server.port,
      upgradeRequest("/room/second"),
    );
    assert.equal(refused.status, 503);
    assert.match(refused.body, /1 room is open/);
    await leave(members);
    await until(() => server.services.rooms.state().rooms === 0, "room gone");
    const again = await connect(`${server.ws}/room/second`);
    await leave([again]);
  });
});

Deno.test("a member that does not read is closed alone with 1008; the others keep receiving", async () => {
  await using server = startTestServer({
    MAX_BUFFERED_BYTES: String(256 * 1024),
    RATE_LIMIT_BYTES_PER_SECOND: "0",
    RATE_LIMIT_MESSAGES_PER_SECOND: "0",
    RATE_LIMIT_IP_MESSAGES_PER_SECOND: "0",
  });
  const url = `${server.ws}/room/busy`;
  const [sender, reader] = await join(url, 2);
  const { conn } = await openRawWebSocket(server.port, { path: "/room/busy" });
  await until(() => server.services.rooms.members === 3, "members open");
  const payload = new Uint8Array(64 * 1024).fill(7);
  let sent = 0;
  // Windows of two messages (half of MAX_BUFFERED_BYTES), each read by the
  // reader before the next: the raw member reads nothing.
  while (!server.services.metrics.breaches.has("slow_reader")) {
    assert.ok(sent < 4096, `no slow-reader close after ${sent} messages`);
    for (let i = 0; i < 2; i++) sender!.socket.send(payload);
    sent += 2;
    for (const got of await reader!.inbox.take(2, { timeoutMs: 20_000 })) {
      assert.equal((got as ArrayBuffer).byteLength, payload.length);
    }
  }
  assert.equal(server.services.metrics.breaches.get("slow_reader"), 1);
  await until(() => server.services.rooms.members === 2, "the reader left");
  sender!.socket.send("after");
  assert.equal(await reader!.inbox.next(), "after");
  conn.close();
  await leave([sender!, reader!]);
  const line = server.logs.find((l) => l.includes("limit=slow_reader"));
  assert.match(line ?? "", /code=1008/);
});

Deno.test("each sender's messages arrive in the order sent under a burst from three senders", async () => {
  await using server = startTestServer();
  const url = `${server.ws}/room/burst`;
  const [receiver, ...senders] = await join(url, 4);
  await until(() => server.services.rooms.members === 4, "members open");
  const perSender = 300;
  senders.forEach(({ socket }, s) => {
    for (let n = 0; n < perSender; n++) socket.send(`${s}:${n}`);
  });
  const next = [0, 0, 0];
  for (const got of await receiver!.inbox.take(3 * perSender)) {
    const [s, n] = String(got).split(":").map(Number);
    assert.equal(n, next[s!], `sender ${s}: ${n} came out of order`);
    next[s!]!++;
  }
  assert.deepEqual(next, [perSender, perSender, perSender]);
  // Each sender has the other two's messages, never its own.
  for (const [s, sender] of senders.entries()) {
    const got = await sender.inbox.take(2 * perSender);
    assert.ok(got.every((m) => !String(m).startsWith(`${s}:`)));
  }
  await leave([receiver!, ...senders]);
});

Deno.test("room members count as connections, and raw frames reach the room", async () => {
  await using server = startTestServer();
  const member = await connect(`${server.ws}/room/raw`);
  const { conn } = await openRawWebSocket(server.port, { path: "/room/raw" });
  await until(() => server.services.rooms.members === 2, "members open");
  assert.equal(server.services.metrics.connectionsOpen, 2);
  await writeAll(conn, clientFrame(0x1, new TextEncoder().encode("raw")));
  assert.equal(await member.inbox.next(), "raw");
  conn.close();
  await leave([member]);
});

/**
 * Reads `presence` events from an SSE body, one JSON object each; each read
 * waits at most 10 s.
 */
async function* presenceEvents(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (true) {
      const { value, done } = await withDeadline(
        reader.read(),
        10_000,
        "the next presence event",
      );
      if (done) return;
      text += value;
      let end;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const event = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (/^event: presence$/m.test(event) && data) yield JSON.parse(data);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

Deno.test("/room/NAME/presence streams the member count, and members get nothing extra", async () => {
  await using server = startTestServer();
  const response = await fetch(`${server.http}/room/lobby/presence`);
  assert.equal(response.status, 200);
  assert.match(
    response.headers.get("content-type") ?? "",
    /text\/event-stream/,
  );
  const events = presenceEvents(response.body!);
  const next = async () => (await events.next()).value;
  assert.deepEqual(await next(), {
    room: "lobby",
    members: 0,
    change: "snapshot",
  });
  const alice = await connect(`${server.ws}/room/lobby`);
  assert.deepEqual(await next(), { room: "lobby", members: 1, change: "join" });
  const bob = await connect(`${server.ws}/room/lobby`);
  assert.deepEqual(await next(), { room: "lobby", members: 2, change: "join" });
  await closeAndWait(bob.socket, bob.inbox);
  assert.deepEqual(await next(), {
    room: "lobby",
    members: 1,
    change: "leave",
  });
  alice.socket.send("hello");
  assert.equal(alice.inbox.pending, 0, "no presence on the WebSocket");
  await closeAndWait(alice.socket, alice.inbox);
  await events.return(undefined);
  await until(() => server.services.rooms.state().rooms === 0, "room gone");
});

Deno.test("a presence stream counts in /healthz and /metrics as a stream while it is open", async () => {
  await using server = startTestServer();
  const health = async () =>
    await (await fetch(`${server.http}/healthz`)).json();
  const response = await fetch(`${server.http}/room/lobby/presence`);
  const events = presenceEvents(response.body!);
  await events.next();
  const open = await health();
  assert.equal(open.streams, 1);
  assert.equal(open.connections, 1);
  const metrics = await (await fetch(`${server.http}/metrics`)).text();
  assert.match(metrics, /^ws_echo_sse_streams_open 1$/m);
  await events.return(undefined);
  await until(
    () => server.services.metrics.streamsOpen === 0,
    "the stream no longer counted",
  );
  assert.equal((await health()).streams, 0);
});

Deno.test("a presence stream counts in the memory budget like an /sse stream: the guard sheds the older of two over it, and it ends", async () => {
  // Each stream counts SSE_STREAM_BYTES: the second passes the budget, and
  // the guard sheds the first (equal charges: the oldest goes first). Before,
  // presence streams counted nothing: both stayed, however many opened.
  await using server = startTestServer({
    MEMORY_BUDGET_BYTES: String(SSE_STREAM_BYTES * 1.5),
  });
  const { memory } = server.services;
  const first = await fetch(`${server.http}/room/lobby/presence`);
  const events = presenceEvents(first.body!);
  await events.next();
  assert.equal(memory.state().usedBytes, SSE_STREAM_BYTES);
  const second = await fetch(`${server.http}/room/lobby/presence`);
  const rest = presenceEvents(second.body!);
  await rest.next();
  const ended = await events.next();
  assert.equal(ended.done, true, "the first stream ended");
  assert.equal(memory.state().shed.memory_budget, 1);
  await rest.return(undefined);
  await until(
    () => memory.state().usedBytes === 0,
    "both streams' charges released",
  );
});

Deno.test("a presence snapshot counts open members only, so each member that opens later is counted once, in its join", async () => {
  const rooms = new RoomRegistry({ maxRooms: 4, maxMembers: 8 });
  // Two members admitted (their upgrades in flight), neither socket open yet:
  // the newcomer's run of the README's example, presence opened between.
  const alice = rooms.join("lobby", { self: false });
  const bob = rooms.join("lobby", { self: false });
  assert.ok(typeof alice === "object" && typeof bob === "object");
  const events: { members: number; change: string }[] = [];
  const stop = rooms.watch(
    "lobby",
    ({ members, change }) => events.push({ members, change }),
  );
  assert.equal(typeof stop, "function");
  const target = { relay() {} };
  alice.opened(target);
  bob.opened(target);
  assert.deepEqual(events, [
    { members: 0, change: "snapshot" },
    { members: 1, change: "join" },
    { members: 2, change: "join" },
  ]);
  alice.closed();
  bob.closed();
  if (typeof stop === "function") stop();
  await rooms.dispose();
});
