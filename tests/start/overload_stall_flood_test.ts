/**
 * At a held loop (`event_loop_stall`), a flood of frames Deno answers
 * itself (pongs, empty continuations) split over many connections from
 * many /24s leaves each connection far under one connection's memory
 * allowance (a message in flight plus 1 MiB): the stall incident takes
 * every connection the kernel's count shows bringing more than
 * `STALL_FLOOD_BYTES` and more than all the payload the app saw from it,
 * whatever its address, unless it flows: a client exchanging complete
 * messages up to the trouble is judged by its allowance alone, whatever
 * it has in flight (stranger8 F6/F7).
 */
import assert from "node:assert/strict";
import {
  attribute,
  FLOW_SLACK_MS,
  type KernelCount,
  STALL_FLOOD_BYTES,
} from "../../lib/start/overload_attribution.ts";
import type { Activity } from "../../lib/admission/slots.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const NOW = 100_000;
const clock = {
  now: NOW,
  settledAt: NOW - 200,
  vouched: () => false,
  calmSince: NOW - 10_000,
  troubleSince: NOW - 1000,
};

/** A connection from 127.`net`.0.1, opened 2 s before the incident. */
function activity(net: number, fields: Partial<Activity> = {}): Activity {
  return {
    opened: true,
    startedAt: NOW - 2000,
    messages: 0,
    bytesIn: 0,
    peer: { transport: "tcp", hostname: `127.${net}.0.1`, port: 40000 },
    sent: 0,
    lastMessageAt: NOW - 2000,
    closingSince: undefined,
    ...fields,
  };
}

/** The kernel's count per /24 `net`, at a stall or not. */
function kernel(read: Record<number, number>, stall: boolean): KernelCount {
  return {
    bytes: new Map(
      Object.entries(read).map((
        [net, bytes],
      ) => [`127.${net}.0.1:40000`, bytes]),
    ),
    at: NOW,
    inFlightBytes: MiB,
    ...(stall ? { stall: true } : {}),
  };
}

/** 32 flooders over 32 /24s, each 300 KiB, and two honest clients. */
function floodOf32(stall: boolean) {
  const connections: Array<[Activity, string]> = [];
  const read: Record<number, number> = {};
  for (let net = 100; net < 132; net++) {
    connections.push([activity(net), `127.${net}.0.1`]);
    read[net] = 300 * KiB;
  }
  // A client that exchanged 2 MiB of complete messages, one more in flight.
  connections.push([
    activity(200, { messages: 2, sent: 2, bytesIn: 2 * MiB }),
    "127.200.0.1",
  ]);
  read[200] = 3 * MiB + 200;
  // A bystander echoing small messages.
  connections.push([
    activity(201, { messages: 20, sent: 20, bytesIn: 400 }),
    "127.201.0.1",
  ]);
  read[201] = 800;
  return attribute(connections, clock, kernel(read, stall));
}

Deno.test("a stall incident takes every flooding connection, whatever its address", async (t) => {
  await t.step(
    "each of 32 connections from 32 /24s past STALL_FLOOD_BYTES is struck and aborted",
    () => {
      const found = floodOf32(true);
      assert.equal(found.over.length, 32);
      assert.equal(found.struck.length, 32);
      assert.ok(found.struck.every((key) => key.endsWith(".0.1")));
      assert.ok(!found.struck.includes("127.200.0.1"));
      assert.ok(!found.struck.includes("127.201.0.1"));
    },
  );
  await t.step("a client exchanging complete messages is spared", () => {
    const found = floodOf32(true);
    assert.ok(found.vouched.includes("127.201.0.1"));
    assert.ok(!found.over.some((peer) => peer.hostname === "127.200.0.1"));
  });
  await t.step(
    "at a memory incident the same count strikes none of them",
    () => {
      const found = floodOf32(false);
      assert.equal(found.over.length, 0);
      assert.deepEqual(found.split.keys, []);
    },
  );
  await t.step("under STALL_FLOOD_BYTES: not struck", () => {
    const under = attribute(
      [[activity(100), "127.100.0.1"]],
      clock,
      kernel({ 100: STALL_FLOOD_BYTES / 2 }, true),
    );
    assert.deepEqual(under.struck, []);
  });
  await t.step(
    "a flooder that sent 'hi' before the trouble, then only frames Deno answers: struck and aborted",
    () => {
      const hi = attribute(
        [[
          activity(100, {
            messages: 1,
            sent: 1,
            bytesIn: 2,
            lastMessageAt: clock.troubleSince - FLOW_SLACK_MS - 1,
          }),
          "127.100.0.1",
        ]],
        clock,
        kernel({ 100: 300 * KiB }, true),
      );
      assert.deepEqual(hi.struck, ["127.100.0.1"]);
      assert.equal(hi.over.length, 1);
    },
  );
  await t.step(
    "an honest client that exchanged 10 small messages up to the trouble, 200 KiB in flight: not struck, not aborted",
    () => {
      const honest = attribute(
        [[
          activity(100, {
            startedAt: NOW - 30_000,
            messages: 10,
            sent: 10,
            bytesIn: 1000,
            lastMessageAt: NOW - 500,
          }),
          "127.100.0.1",
        ]],
        clock,
        kernel({ 100: 1000 + 200 * KiB }, true),
      );
      assert.deepEqual(honest.struck, []);
      assert.deepEqual(honest.over, []);
    },
  );
});
