/**
 * An attack split across many connections, each under its own unseen
 * allowance (endless fragments of 1.9 MiB on 32 connections per address;
 * empty frames from a fresh address per connection), is attributed by what
 * an address, and then its network (/24, /48), brought in total that the
 * app never saw. A client whose connections carried complete messages is
 * not struck, nor is a newcomer that brought nothing; a network's listing
 * refuses its addresses except those seen exchanging messages.
 */
import assert from "node:assert/strict";
import {
  attribute,
  type KernelCount,
  SPLIT_CONNECTION_BYTES,
} from "../../lib/start/overload_attribution.ts";
import { BROUGHT_MEMORY_MS } from "../../lib/admission/brought_bytes.ts";
import { SuspectList } from "../../lib/admission/suspects.ts";
import type { Activity } from "../../lib/admission/slots.ts";

const MiB = 1024 * 1024;
const NOW = 100_000;
const clock = {
  now: NOW,
  settledAt: NOW - 200,
  vouched: () => false,
  calmSince: NOW - 10_000,
  troubleSince: NOW - 1000,
};

/** Connections with the bytes the kernel counted on each. */
class Crowd {
  readonly connections: Array<[Activity, string]> = [];
  readonly read = new Map<string, number>();
  #port = 40000;

  /** `count` connections from `key` (also its address), each read `bytes`. */
  add(
    key: string,
    count: number,
    bytes: number,
    fields: Partial<Activity> = {},
  ): this {
    for (let i = 0; i < count; i++) {
      const port = this.#port++;
      this.connections.push([{
        opened: true,
        startedAt: NOW - 2000,
        messages: 0,
        bytesIn: 0,
        peer: { transport: "tcp", hostname: key, port },
        sent: 0,
        lastMessageAt: NOW - 2000,
        closingSince: undefined,
        ...fields,
      }, key]);
      this.read.set(`${key}:${port}`, bytes);
    }
    return this;
  }

  /** A reading that began at the incident, MAX_MESSAGE_BYTES 1 MiB. */
  get kernel(): KernelCount {
    return { bytes: this.read, at: NOW, inFlightBytes: MiB };
  }

  /** The same reading at a memory incident, every peer still sending. */
  get sending(): KernelCount {
    return { ...this.kernel, sending: new Set(this.read.keys()) };
  }
}

Deno.test("attribute() adds up what an address and its network brought the app never saw", async (t) => {
  await t.step(
    "32 connections of one address each holding 1.9 MiB of an endless message after hi: the address struck, not vouched for",
    () => {
      const hi = {
        messages: 1,
        sent: 1,
        bytesIn: 2,
        lastMessageAt: NOW - 1900,
      };
      const crowd = new Crowd().add("127.60.0.1", 32, 1.9 * MiB, hi);
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, ["127.60.0.1"]);
      assert.deepEqual(found.vouched, []);
      assert.ok(found.unseen["127.60.0.1"]! > 32 * (1.9 * MiB - 20 * 1024));
    },
  );
  await t.step(
    "4 connections of one address each holding 0.3 MiB after hi: under the line, not struck, and not vouched for (its messages are no flow)",
    () => {
      const hi = { messages: 1, sent: 1, bytesIn: 2, lastMessageAt: NOW - 100 };
      const crowd = new Crowd().add("127.60.0.1", 4, 0.3 * MiB, hi);
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.vouched, []);
    },
  );
  await t.step(
    "two connections each in the middle of a 1 MiB message: under one address's allowance, not struck",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 2, MiB - 10);
      assert.deepEqual(
        attribute(crowd.connections, clock, crowd.kernel).struck,
        [],
      );
    },
  );
  await t.step(
    "32 connections each in the middle of a 1 MiB message after 40 complete ones: the app saw more than it did not, not struck, vouched for",
    () => {
      const sender = {
        messages: 40,
        sent: 40,
        bytesIn: 40 * MiB,
        lastMessageAt: NOW - 100,
      };
      const crowd = new Crowd().add(
        "127.60.0.1",
        32,
        40 * MiB + MiB - 10,
        sender,
      );
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.vouched, ["127.60.0.1"]);
    },
  );
  await t.step(
    "16 addresses of one /24, one connection each with 1.5 MiB of empty frames: the network struck, no address alone",
    () => {
      const crowd = new Crowd();
      for (let i = 1; i <= 16; i++) crowd.add(`127.61.0.${i}`, 1, 1.5 * MiB);
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, ["127.61.0.0/24"]);
      assert.equal(
        found.unseen["127.61.0.0/24"],
        16 * (1.5 * MiB - SPLIT_CONNECTION_BYTES - 64 * 2),
      );
    },
  );
  await t.step(
    "the same 16 connections spread over 16 networks: nobody struck (docs/limits.md)",
    () => {
      const crowd = new Crowd();
      for (let i = 1; i <= 16; i++) crowd.add(`127.62.${i}.1`, 1, 1.5 * MiB);
      assert.deepEqual(
        attribute(crowd.connections, clock, crowd.kernel).struck,
        [],
      );
    },
  );
  await t.step(
    "beside the attack, an echoing bystander of the attacker's /24 and a newcomer that brought only its handshake: neither struck",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 32, 1.9 * MiB)
        .add("127.60.0.9", 1, 64_000 + 6 * 1000 + 250, {
          messages: 1000,
          sent: 1000,
          bytesIn: 64_000,
          lastMessageAt: NOW - 50,
        })
        .add("127.0.7.1", 1, 250, { startedAt: NOW - 100 });
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, ["127.60.0.1"]);
      assert.deepEqual(found.vouched, ["127.60.0.9"]);
    },
  );
});

Deno.test("attribute() spares a message in flight per connection still sending, and says whom to read again", async (t) => {
  await t.step(
    "8 non-readers of one address each half-way through a first 1 MiB message, still sending: not struck, pending",
    () => {
      // 8.3 MB together, none of it seen yet: struck as a split attack
      // when the count was one instant (non_reader_flood_test, issue #20).
      const crowd = new Crowd().add("127.60.0.1", 8, 0.99 * MiB);
      assert.deepEqual(
        attribute(crowd.connections, clock, crowd.kernel).struck,
        ["127.60.0.1"],
        "as one instant shows it",
      );
      const found = attribute(crowd.connections, clock, crowd.sending);
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.unseen, {});
      assert.deepEqual(found.pending, ["127.60.0.1"]);
    },
  );
  await t.step(
    "the same connections gone quiet at the second reading (an endless message held): struck",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 8, 0.99 * MiB);
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.struck, ["127.60.0.1"]);
      assert.deepEqual(found.pending, []);
    },
  );
  await t.step(
    "their messages complete by then: seen, not struck, nothing pending",
    () => {
      const done = { messages: 1, sent: 0, bytesIn: MiB, lastMessageAt: NOW };
      const crowd = new Crowd().add("127.60.0.1", 8, MiB + 300, done);
      const found = attribute(crowd.connections, clock, crowd.sending);
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.pending, []);
    },
  );
  await t.step(
    "32 connections still sending past one message in flight each (1.9 MiB): struck at once",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 32, 1.9 * MiB);
      const found = attribute(crowd.connections, clock, crowd.sending);
      assert.deepEqual(found.struck, ["127.60.0.1"]);
      assert.deepEqual(found.pending, []);
    },
  );
  await t.step(
    "a network's addresses still sending: the network pending, none of them",
    () => {
      const crowd = new Crowd();
      for (let i = 1; i <= 16; i++) crowd.add(`127.61.0.${i}`, 1, 0.9 * MiB);
      const found = attribute(crowd.connections, clock, crowd.sending);
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.pending, ["127.61.0.0/24"]);
    },
  );
});

Deno.test("attribute() names the connections that make up a split total: what an abort takes", async (t) => {
  /** `host:port` of each connection in `peers`. */
  const named = (peers: Deno.NetAddr[]) =>
    peers.map(({ hostname, port }) => `${hostname}:${port}`).sort();
  await t.step(
    "an address's 32 connections of 1.9 MiB each: all 32, none past its own allowance",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 32, 1.9 * MiB);
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.over, []);
      assert.deepEqual(found.split.keys, ["127.60.0.1"]);
      assert.deepEqual(named(found.split.over), [...crowd.read.keys()].sort());
    },
  );
  await t.step(
    "every connection of the struck address is taken (one still sending, one that brought only its handshake), a bystander elsewhere never",
    () => {
      const crowd = new Crowd().add("127.60.0.1", 32, 1.9 * MiB);
      crowd.add("127.60.0.1", 1, 0.99 * MiB) // port 40032
        .add("127.60.0.1", 1, 300) // port 40033
        .add("127.0.0.3", 1, 2000, {
          messages: 20,
          sent: 20,
          bytesIn: 1000,
          lastMessageAt: NOW - 50,
        });
      const found = attribute(crowd.connections, clock, {
        ...crowd.kernel,
        sending: new Set(["127.60.0.1:40032"]),
      });
      assert.deepEqual(found.struck, ["127.60.0.1"]);
      const taken = named(found.split.over);
      assert.equal(taken.length, 34);
      assert.ok(!taken.some((peer) => peer.startsWith("127.0.0.3:")));
    },
  );
  await t.step(
    "of a struck network, only the connections that brought part of it: a neighbour exchanging messages keeps its own",
    () => {
      const crowd = new Crowd();
      for (let i = 1; i <= 16; i++) crowd.add(`127.61.0.${i}`, 1, 1.5 * MiB);
      crowd.add("127.61.0.200", 1, 2000, {
        messages: 20,
        sent: 20,
        bytesIn: 1000,
        lastMessageAt: NOW - 50,
      });
      const found = attribute(crowd.connections, clock, crowd.kernel);
      assert.deepEqual(found.split.keys, ["127.61.0.0/24"]);
      const taken = named(found.split.over);
      assert.equal(taken.length, 16);
      assert.ok(!taken.some((peer) => peer.startsWith("127.61.0.200:")));
    },
  );
  await t.step("under the line: none", () => {
    const crowd = new Crowd().add("127.60.0.1", 2, MiB - 10);
    assert.deepEqual(
      attribute(crowd.connections, clock, crowd.kernel).split,
      { keys: [], over: [] },
    );
  });
});

Deno.test("attribute() remembers what a network brought under the line at earlier readings", async (t) => {
  /** 16 addresses of 127.61.0.0/24, 0.4 MiB of empty frames each. */
  const crowd = new Crowd();
  for (let i = 1; i <= 16; i++) crowd.add(`127.61.0.${i}`, 1, 0.4 * MiB);
  const suspects = new SuspectList();
  /** A reading at `now` of `connections`, opened 1 ms before it. */
  const judge = (connections: Array<[Activity, string]>, now: number) => {
    const found = attribute(
      connections.map(([activity, key]) => [
        { ...activity, startedAt: now - 1 },
        key,
      ]),
      {
        ...clock,
        brought: (key) => suspects.brought.of(key, now),
        rememberedAt: suspects.brought.rememberedAt,
      },
      crowd.kernel,
    );
    suspects.brought.remember(found.brought, found.struck, now);
    return found;
  };
  await t.step(
    "first reading: 6 MiB together, under the line, remembered",
    () => {
      const found = judge(crowd.connections, 0);
      assert.deepEqual(found.struck, []);
      assert.ok(suspects.brought.of("127.61.0.0/24", 1000) > 6 * MiB);
    },
  );
  await t.step("the next one: past it with the first, struck", () => {
    const found = judge(crowd.connections, 3000);
    assert.deepEqual(found.struck, ["127.61.0.0/24"]);
    assert.equal(suspects.brought.of("127.61.0.0/24", 3000), 0, "paid for");
  });
  await t.step(
    "a network that brings nothing now is not struck for what it brought before",
    () => {
      judge(crowd.connections, 6000);
      assert.deepEqual(judge([], 7000).struck, []);
    },
  );
  await t.step(
    "the same connections at the next reading are not counted twice",
    () => {
      suspects.brought.remember({}, ["127.61.0.0/24"], 10_000);
      assert.deepEqual(judge(crowd.connections, 11_000).struck, []);
      // Opened before the reading that remembered them.
      const again = attribute(
        crowd.connections.map(([activity, key]) => [
          { ...activity, startedAt: 10_999 },
          key,
        ]),
        {
          ...clock,
          brought: (key) => suspects.brought.of(key, 12_000),
          rememberedAt: suspects.brought.rememberedAt,
        },
        crowd.kernel,
      );
      assert.deepEqual(again.struck, []);
      assert.deepEqual(again.brought, {});
    },
  );
  await t.step("forgotten after BROUGHT_MEMORY_MS", () => {
    assert.ok(suspects.brought.of("127.61.0.0/24", 11_000) > 6 * MiB);
    assert.equal(
      suspects.brought.of("127.61.0.0/24", 11_000 + BROUGHT_MEMORY_MS + 1),
      0,
    );
  });
});

Deno.test("SuspectList refuses a listed network's addresses, except those vouched for", () => {
  const suspects = new SuspectList();
  suspects.vouch(["127.61.0.9"], 0);
  suspects.strike(["127.61.0.0/24"], 1000);
  suspects.strike(["127.61.0.0/24"], 2000);
  assert.deepEqual(suspects.refusal("127.61.0.3", 3000), {
    key: "127.61.0.0/24",
    seconds: 299,
  });
  assert.equal(suspects.refusedFor("127.61.0.3", 3000), 299);
  assert.equal(suspects.refusedFor("127.61.0.9", 3000), 0, "vouched for");
  assert.equal(suspects.refusedFor("127.61.1.3", 3000), 0, "another /24");
});
