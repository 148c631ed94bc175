import assert from "node:assert/strict";
import { readServeTask, waitForExit } from "../_server.ts";
import { connect, type Inbox, until } from "../_client.ts";
import { ensureBundles } from "../../deploy/bundle.ts";
import {
  clientFrame,
  freePort,
  openRawWebSocket,
  type RawWebSocket,
  readFrame,
  writeAll,
} from "../../bench/wire.ts";

/** A member joined over raw TCP, so its 101's X-Connection-Id is seen. */
interface Anchor {
  raw: RawWebSocket;
  /** The worker serving it: the id's part before the dash. */
  instance: string;
}

/** Joins at most this many raw members looking for one on each worker. */
const MAX_ANCHOR_TRIES = 64;

/**
 * One member of `path` on each of `workers` workers, found by joining raw
 * members (four at a time, so one worker's accept loop is busy while the
 * next arrive) and keeping the first seen on each instance. Deno's
 * `deno serve --parallel` workers race to accept on one shared socket
 * (ext/net/tcp.rs, `bind_load_balanced`: no SO_REUSEPORT), so a busy
 * machine can hand every connection to one worker; the others leave at
 * once. Returns the anchors and how many raw members were joined.
 */
async function anchorOnEveryWorker(
  port: number,
  path: string,
  workers: number,
): Promise<{ anchors: Anchor[]; joined: number }> {
  const anchors = new Map<string, Anchor>();
  let joined = 0;
  const deadline = Date.now() + 20_000;
  while (
    anchors.size < workers && joined < MAX_ANCHOR_TRIES &&
    Date.now() < deadline
  ) {
    const batch = await Promise.all(
      Array.from(
        { length: 4 },
        () => openRawWebSocket(port, { path, timeoutMs: 20_000 }),
      ),
    );
    joined += batch.length;
    for (const raw of batch) {
      const id = raw.response.headers.get("x-connection-id") ?? "";
      const instance = id.split("-")[0]!;
      assert.match(id, /^\w+-\w+$/, "X-Connection-Id on the 101");
      if (anchors.has(instance)) await leave(raw);
      else anchors.set(instance, { raw, instance });
    }
  }
  return { anchors: [...anchors.values()], joined };
}

/**
 * Leaves the room with a Close (1000) and waits for the server's Close
 * before closing the TCP connection: a connection reset instead keeps the
 * worker's shutdown waiting (Deno leaks reset upgrades, README), 13 s here.
 *
 * @throws {Deno.errors.TimedOut} If no Close comes back within 20 s.
 */
async function leave(raw: RawWebSocket): Promise<void> {
  try {
    await writeAll(raw.conn, clientFrame(0x8, Uint8Array.of(3, 232)));
    for (let leftover = raw.leftover;;) {
      const frame = await readFrame(raw.conn, { leftover, timeoutMs: 20_000 });
      if (frame.opcode === 0x8) return;
      leftover = frame.rest;
    }
  } finally {
    raw.conn.close();
  }
}

/**
 * The next `n` text messages an anchor receives (Deno's pings skipped).
 *
 * @throws {Deno.errors.TimedOut} If a message takes longer than 20 s.
 */
async function takeTexts(anchor: Anchor, n: number): Promise<string[]> {
  const texts: string[] = [];
  const decoder = new TextDecoder();
  while (texts.length < n) {
    const frame = await readFrame(anchor.raw.conn, {
      leftover: anchor.raw.leftover,
      timeoutMs: 20_000,
    });
    anchor.raw.leftover = frame.rest;
    assert.notEqual(frame.opcode, 0x8, `a Close on ${anchor.instance}`);
    if (frame.opcode === 0x1) texts.push(decoder.decode(frame.payload));
  }
  return texts;
}

Deno.test("under deno task serve, room members on every worker receive each other's messages, a burst whole and in order", async () => {
  const port = freePort();
  const workers = 2;
  // The task rebuilds a stale bundle and says so on stderr: build it first.
  await ensureBundles();
  const task = readServeTask(port, { workers });
  const { child, lines } = task;
  const members: Array<{ socket: WebSocket; inbox: Inbox }> = [];
  let anchors: Anchor[] = [];
  let joined = 0;
  try {
    // Two workers loading the service took over 20 s once at load 17 (as
    // exhaustion_test, 30 s).
    await until(
      () => lines.filter((line) => line.startsWith("start ")).length === 2,
      "a start line from each worker",
      { timeoutMs: 30_000 },
    );
    for (const line of lines.filter((line) => line.startsWith("start "))) {
      assert.match(line, / rooms_bridge=broadcast/);
    }
    // Deno's workers race to accept on one socket, so where members land is
    // chance, and on a busy machine all of them can land on one: the room
    // gets a member on each worker first, seen in its 101.
    const found = await anchorOnEveryWorker(port, "/room/workers", workers);
    anchors = found.anchors;
    joined = found.joined;
    assert.equal(
      anchors.length,
      workers,
      `a member on each worker within ${joined} joins`,
    );
    const count = 16;
    for (let i = 0; i < count; i++) {
      members.push(await connect(`ws://127.0.0.1:${port}/room/workers`));
    }
    const encoder = new TextEncoder();
    const fromAnchors = anchors.map(({ instance }) => `anchor on ${instance}`);
    for (const [k, anchor] of anchors.entries()) {
      await writeAll(
        anchor.raw.conn,
        clientFrame(0x1, encoder.encode(fromAnchors[k]!)),
      );
    }
    members.forEach(({ socket }, i) => socket.send(`from ${i}`));
    const fromMembers = members.map((_, j) => `from ${j}`);
    for (const [i, { inbox }] of members.entries()) {
      const got = (await inbox.take(count - 1 + workers, { timeoutMs: 20_000 }))
        .map(String).sort();
      const expected = [...fromMembers, ...fromAnchors]
        .filter((text) => text !== `from ${i}`).sort();
      assert.deepEqual(got, expected, `member ${i}`);
      assert.equal(inbox.pending, 0, `member ${i} got nothing twice`);
    }
    // Each anchor hears every member and the anchor on the other worker:
    // across the bridge however the members landed.
    for (const [k, anchor] of anchors.entries()) {
      const got = (await takeTexts(anchor, count + workers - 1)).sort();
      const expected = [...fromMembers, ...fromAnchors]
        .filter((text) => text !== fromAnchors[k]).sort();
      assert.deepEqual(got, expected, `anchor on ${anchor.instance}`);
    }
    // A burst from one member reaches every other, on both workers, whole
    // and in order (Deno's channel drops what a lagging worker cannot queue;
    // the bridge posts a turn's messages at once: bench/broadcast_cost.ts).
    const burst = 1000;
    const sent = Array.from({ length: burst }, (_, n) => `burst ${n}`);
    for (const text of sent) members[0]!.socket.send(text);
    for (const { inbox } of members.slice(1)) {
      assert.deepEqual(await inbox.take(burst, { timeoutMs: 20_000 }), sent);
    }
    for (const anchor of anchors) {
      assert.deepEqual(await takeTexts(anchor, burst), sent, anchor.instance);
    }
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`))
      .json();
    assert.equal(health.rooms.bridge.kind, "broadcast");
    assert.equal(health.rooms.bridge.lost, 0);
    // The anchors leave first: a raw client does not answer the shutdown's
    // Close by itself.
    for (const { raw } of anchors.splice(0)) await leave(raw);
    child.kill("SIGTERM");
    for (const { inbox } of members) {
      assert.equal((await inbox.closed({ timeoutMs: 20_000 })).code, 1001);
    }
    await until(
      () =>
        lines.filter((line) => line.startsWith("ws close ")).length ===
          count + joined,
      "a close line for each member, raw ones too",
      { timeoutMs: 20_000 },
    );
    assert.equal((await waitForExit(child)).code, 0);
    const instances = new Set(
      lines.filter((line) => line.startsWith("ws close "))
        .map((line) => /id=(\w+)-/.exec(line)?.[1]),
    );
    assert.equal(instances.size, workers, "members on every worker");
  } finally {
    for (const { raw } of anchors) raw.conn.close();
    const ended = task.end();
    for (const { socket } of members) socket.close();
    await Promise.all(
      members.map(({ inbox }) => inbox.closed().catch(() => {})),
    );
    await ended;
  }
  const errors = (await task.stderr).split("\n").filter((line) =>
    line && !line.startsWith("Task ")
  );
  assert.deepEqual(errors, []);
});
