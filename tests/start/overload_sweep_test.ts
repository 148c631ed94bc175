/**
 * An endless message split over hundreds of connections from hundreds of
 * /24s, each far below its allowance, is not named connection by
 * connection in time (stranger8 F1/F2: 10-36 aborted per incident of ~400,
 * the process killed at 1.86x MAX_RSS_BYTES). Past MAX_RSS_BYTES every
 * connection holding bytes the app never saw with no complete message
 * from it is aborted in one round; a client that sent a complete message
 * never is. The sweep frees memory and strikes only the connections named
 * on the kernel's count: a holding one may be an honest client's first
 * message in flight.
 */
import assert from "node:assert/strict";
import {
  attribute,
  type KernelCount,
  SPLIT_CONNECTION_BYTES,
} from "../../lib/start/overload_attribution.ts";
import { abortHolding, restOfAttack } from "../../lib/start/incident_aborts.ts";
import type { Suspects } from "../../lib/start/incident_suspects.ts";
import type { SyncSocketAbort } from "../../lib/start/socket_abort.ts";
import type { Activity } from "../../lib/admission/slots.ts";

const KiB = 1024;
const NOW = 100_000;
const clock = { now: NOW, settledAt: NOW - 200, vouched: () => false };

/** A connection from 127.0.0.1:`port`, opened 5 s before the incident. */
function activity(port: number, fields: Partial<Activity> = {}): Activity {
  return {
    opened: true,
    startedAt: NOW - 5000,
    messages: 0,
    bytesIn: 0,
    peer: { transport: "tcp", hostname: "127.0.0.1", port },
    sent: 0,
    lastMessageAt: NOW - 5000,
    closingSince: undefined,
    ...fields,
  };
}

/** A reading that began at the incident, MAX_MESSAGE_BYTES 1 MiB. */
function kernel(read: Record<number, number>): KernelCount {
  return {
    bytes: new Map(
      Object.entries(read).map(([port, bytes]) => [`127.0.0.1:${port}`, bytes]),
    ),
    at: NOW,
    inFlightBytes: 1024 * KiB,
  };
}

Deno.test("connections holding unseen bytes are found and swept", async (t) => {
  const fragments = activity(40000);
  const echoing = activity(40001, {
    messages: 40,
    sent: 40,
    bytesIn: 400,
    lastMessageAt: NOW - 10,
  });
  const uploading = activity(40002, { messages: 3, sent: 3, bytesIn: 30 });
  const quiet = activity(40003);
  const found = attribute(
    [
      [fragments, "127.20.0.1"],
      [echoing, "127.200.0.9"],
      [uploading, "127.200.0.10"],
      [quiet, "127.21.0.1"],
    ],
    clock,
    kernel({
      40000: 3 * 64 * KiB,
      40001: 400 + 40 * 6,
      // A complete message exchanged before: its next one in flight.
      40002: 30 + 512 * KiB,
      40003: SPLIT_CONNECTION_BYTES,
    }),
  );
  await t.step(
    "one that sent 192 KiB of an unfinished message, far below its allowance: not struck, but holding",
    () => {
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.holding, {
        keys: ["127.20.0.1"],
        peers: [fragments.peer],
      });
    },
  );
  await t.step(
    "clients that exchanged complete messages, and one under the split allowance: not holding",
    () => {
      for (const peer of [echoing.peer, uploading.peer, quiet.peer]) {
        assert.ok(!found.holding.peers.includes(peer!));
      }
    },
  );
  const named = activity(40010).peer!;
  const suspects = {
    struck: ["127.22.0.1"],
    over: [named],
    split: { keys: [], over: [] },
    holding: found.holding,
  } as unknown as Suspects;
  /** An abort that takes every peer, or leaves the first when `short`. */
  function aborter(short = false) {
    const calls: Deno.NetAddr[][] = [];
    const abort: SyncSocketAbort = {
      abortSync: (peers) => {
        calls.push([...peers]);
        return short
          ? { aborted: peers.length - 1, left: new Set(peers.slice(0, 1)) }
          : { aborted: peers.length, left: new Set() };
      },
    };
    return { abort, calls };
  }
  await t.step(
    "abortHolding aborts the named and the holding connections in one round",
    () => {
      const { abort, calls } = aborter();
      const taken = abortHolding(abort, suspects);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0], [named, fragments.peer]);
      assert.deepEqual(taken, { aborted: 2 });
      const none = { ...suspects, holding: { keys: [], peers: [] } };
      assert.equal(abortHolding(abort, none), undefined);
    },
  );
  // The thread aborted 127.23.0.1's connection; the main loop sweeps the
  // rest once it turns.
  const services = {
    registry: { connections: () => [] },
    config: { trustProxy: 0, ipv6PrefixLength: 64 },
  } as unknown as Parameters<typeof restOfAttack>[0];
  const threadAbort = {
    cause: "uncounted_memory" as const,
    peers: [{ hostname: "127.23.0.1", port: 40020 }],
    readBytes: [300 * 1024 * KiB],
    rssBytes: 300 * 1024 * KiB,
    heldMs: 1500,
    heldSince: Date.now() - 1500,
  };
  await t.step(
    "a sweep strikes the named keys, never a holding one (an honest first message in flight)",
    () => {
      const { abort } = aborter();
      const rest = restOfAttack(services, {
        abort: threadAbort,
        evidence: suspects,
        socketAbort: abort,
      });
      assert.deepEqual(rest.keys.toSorted(), ["127.22.0.1", "127.23.0.1"]);
      assert.equal(rest.aborted, 3);
    },
  );
  await t.step(
    "after an abort on a held loop alone (a flood, whatever the RSS), the named rest is aborted, no holding connection",
    () => {
      const { abort, calls } = aborter();
      const rest = restOfAttack(services, {
        abort: { ...threadAbort, cause: "event_loop_stall" },
        // Struck on the kernel's count: the named connection's client.
        evidence: { ...suspects, struck: ["127.0.0.1"] },
        socketAbort: abort,
      });
      assert.deepEqual(calls, [[named]]);
      assert.deepEqual(rest.keys.toSorted(), ["127.0.0.1", "127.23.0.1"]);
      assert.equal(rest.aborted, 2);
    },
  );
  await t.step(
    "an abort that fell short strikes only what the thread aborted",
    () => {
      const { abort } = aborter(true);
      const rest = restOfAttack(services, {
        abort: threadAbort,
        evidence: suspects,
        socketAbort: abort,
      });
      assert.deepEqual(rest.keys, ["127.23.0.1"]);
      assert.equal(rest.aborted, 2);
    },
  );
});
