/**
 * Where the OS can tell, the overload watch strikes by the kernel's count
 * of each connection's bytes before any timing rule: what the process read
 * from a connection (`ss`'s `bytes_received` minus Recv-Q) minus the
 * payload the app counted is what Deno read and the app never saw
 * (fragments, pongs, empty frames). Past the allowance the connection is
 * struck whatever it sent before and whoever it is (a room member too);
 * under it, it is not struck, silent or not.
 */
import assert from "node:assert/strict";
import {
  attribute,
  type KernelCount,
  UNSEEN_ALLOWANCE,
  unseenAllowance,
} from "../../lib/start/overload_attribution.ts";
import {
  parseSocketBytes,
  peerKey,
  SENDING_MS,
  SocketBytesReader,
} from "../../lib/start/socket_bytes.ts";
import type { Activity } from "../../lib/admission/slots.ts";
import { readKernel } from "../../lib/start/incident_suspects.ts";
import { hasSs, netlinkLessSs } from "./_overload.ts";

const MiB = 1024 * 1024;
const NOW = 100_000;
const CALM = NOW - 10_000;
const TROUBLE = NOW - 1000;
const clock = {
  now: NOW,
  settledAt: NOW - 200,
  vouched: () => false,
  calmSince: CALM,
  troubleSince: TROUBLE,
};

/** What attribute() finds when it strikes, vouches for and counts nobody. */
const NOTHING_FOUND = {
  struck: [],
  vouched: [],
  unseen: {},
  over: [],
  split: { keys: [], over: [] },
  holding: { keys: [], peers: [] },
  timed: 0,
  brought: {},
  pending: [],
};

/** A connection from 127.0.0.1:`port`, opened after the calm stretch. */
function activity(port: number, fields: Partial<Activity> = {}): Activity {
  return {
    opened: true,
    startedAt: CALM + 5000,
    messages: 0,
    bytesIn: 0,
    peer: { transport: "tcp", hostname: "127.0.0.1", port },
    sent: 0,
    lastMessageAt: CALM + 5000,
    closingSince: undefined,
    ...fields,
  };
}

/** A reading that began at the incident, MAX_MESSAGE_BYTES 1 MiB. */
function kernel(read: Record<number, number>): KernelCount {
  return {
    bytes: new Map(
      Object.entries(read).map(([port, bytes]) => [
        `127.0.0.1:${port}`,
        bytes,
      ]),
    ),
    at: NOW,
    inFlightBytes: MiB,
  };
}

Deno.test("attribute() strikes by the kernel's count first", async (t) => {
  await t.step(
    "a connection that sent one message during the trouble, then fragments (300 MiB the app never saw): struck",
    () => {
      const attacker = activity(40000, {
        messages: 1,
        sent: 1,
        bytesIn: 2,
        lastMessageAt: NOW - 10,
      });
      const found = attribute(
        [[attacker, "127.0.0.2"]],
        clock,
        kernel({ 40000: 300 * MiB }),
      );
      assert.deepEqual(found.struck, ["127.0.0.2"]);
      assert.deepEqual(found.unseen, { "127.0.0.2": 300 * MiB - 2 });
      // The connection itself, for an abort to take.
      assert.deepEqual(found.over, [attacker.peer]);
      assert.deepEqual(found.vouched, []);
    },
  );
  await t.step("a room member flooding pongs: struck", () => {
    const member = activity(40000, { sent: 50 });
    assert.deepEqual(
      attribute([[member, "127.0.0.2"]], clock, kernel({ 40000: 40 * MiB }))
        .struck,
      ["127.0.0.2"],
    );
  });
  await t.step(
    "a pong flooder that sends a message now and then, one of them during the trouble: struck",
    () => {
      const flooder = activity(40000, {
        messages: 30,
        sent: 30,
        bytesIn: 300,
        lastMessageAt: NOW - 5,
      });
      assert.deepEqual(
        attribute([[flooder, "127.0.0.2"]], clock, kernel({ 40000: 25 * MiB }))
          .struck,
        ["127.0.0.2"],
      );
    },
  );
  await t.step(
    "an echoing client (its payload, a header per message, the handshake): not struck, vouched for",
    () => {
      const reader = activity(40001, {
        messages: 1000,
        sent: 1000,
        bytesIn: 64_000,
        lastMessageAt: NOW - 50,
      });
      const found = attribute(
        [[reader, "127.0.0.3"]],
        clock,
        kernel({ 40001: 64_000 + 6 * 1000 + 250 }),
      );
      assert.deepEqual(found.struck, []);
      assert.deepEqual(found.vouched, ["127.0.0.3"]);
    },
  );
  await t.step(
    "a client in the middle of sending its largest message: not struck",
    () => {
      const sender = activity(40001, { messages: 3, bytesIn: 30 });
      const read = 30 + MiB + 512;
      assert.ok(read < unseenAllowance(sender, MiB, NOW));
      assert.deepEqual(
        attribute([[sender, "127.0.0.3"]], clock, kernel({ 40001: read }))
          .struck,
        [],
      );
    },
  );
  await t.step(
    "an idle client that connected during the attack: not struck (timing alone would strike it), not vouched for",
    () => {
      const idle = activity(40002, { startedAt: TROUBLE + 100 });
      const found = attribute(
        [[idle, "127.0.0.5"]],
        clock,
        kernel({ 40002: 250 }),
      );
      assert.deepEqual(found, NOTHING_FOUND);
      assert.deepEqual(attribute([[idle, "127.0.0.5"]], clock).struck, [
        "127.0.0.5",
      ]);
    },
  );
  await t.step(
    "an attacker that idled through a calm stretch before attacking: struck (timing alone spares it)",
    () => {
      const patient = activity(40000, { startedAt: CALM - 5000 });
      assert.deepEqual(
        attribute([[patient, "127.0.0.2"]], clock, kernel({ 40000: 90 * MiB }))
          .struck,
        ["127.0.0.2"],
      );
      assert.deepEqual(attribute([[patient, "127.0.0.2"]], clock).struck, []);
    },
  );
  await t.step(
    "a connection the reading does not cover (opened after it began, or gone from it) is not struck: a newcomer brought nothing",
    () => {
      const late = activity(40000, { startedAt: NOW + 1 });
      const missing = activity(40003);
      const found = attribute(
        [[late, "127.0.0.2"], [missing, "127.0.0.6"]],
        { ...clock, now: NOW + 2 },
        kernel({ 40000: 90 * MiB }),
      );
      assert.deepEqual(found, NOTHING_FOUND);
      // Without a reading, timing strikes both.
      assert.deepEqual(
        attribute([[late, "127.0.0.2"], [missing, "127.0.0.6"]], {
          ...clock,
          now: NOW + 2,
        }).struck.sort(),
        ["127.0.0.2", "127.0.0.6"],
      );
    },
  );
  await t.step("a close left unanswered is struck whatever the count", () => {
    const closing = activity(40001, { closingSince: NOW - 5000 });
    assert.deepEqual(
      attribute([[closing, "127.0.0.2"]], clock, kernel({ 40001: 250 }))
        .struck,
      ["127.0.0.2"],
    );
  });
});

Deno.test("unseenAllowance() is one message in flight plus what a client sends besides messages", () => {
  const young = activity(1, { startedAt: NOW });
  assert.equal(unseenAllowance(young, MiB, NOW), MiB + UNSEEN_ALLOWANCE.bytes);
  const old = activity(1, {
    startedAt: NOW - 3600_000,
    messages: 1000,
    bytesIn: 64 * MiB,
  });
  assert.equal(
    unseenAllowance(old, MiB, NOW),
    MiB + UNSEEN_ALLOWANCE.bytes + 1000 * UNSEEN_ALLOWANCE.perMessage +
      3600 * UNSEEN_ALLOWANCE.perSecond + MiB,
  );
});

Deno.test("parseSocketBytes() reads what the process read per peer from ss", async (t) => {
  await t.step("bytes_received minus Recv-Q, IPv4, IPv6 and mapped", () => {
    const text = [
      "0      13     127.0.0.1:40979 127.0.0.2:44584",
      "\t bbr wscale:10,10 rto:204 bytes_sent:179 bytes_acked:166 bytes_received:195 segs_out:3",
      "4096   0      [::ffff:127.0.0.1]:40979 [::ffff:127.0.0.3]:44585",
      "\t cubic bytes_received:1048576 segs_in:40",
      "0      0      [::1]:40979 [::1]:44586",
      "\t cubic bytes_acked:1",
      "",
    ].join("\n");
    assert.deepEqual([...parseSocketBytes(text).bytes], [
      ["127.0.0.2:44584", 195],
      ["127.0.0.3:44585", 1048576 - 4096],
      ["::1:44586", 0],
    ]);
  });
  await t.step(
    `still sending: bytes in Recv-Q, or data within SENDING_MS (${SENDING_MS} ms)`,
    () => {
      const socket = (port: number, recvQ: number, info: string) =>
        `${recvQ} 0 127.0.0.1:40979 127.0.0.2:${port}\n\t cubic ${info}\n`;
      const text = socket(1, 0, "bytes_received:900 lastrcv:12") +
        socket(2, 0, `bytes_received:900 lastrcv:${SENDING_MS}`) +
        socket(3, 4096, "bytes_received:9000 lastrcv:5100") +
        // A split attacker's, 5 s after its last fragment.
        socket(4, 0, "bytes_received:1966660 lastrcv:5164") +
        socket(5, 0, "bytes_acked:1");
      assert.deepEqual([...parseSocketBytes(text).sending], [
        "127.0.0.2:1",
        "127.0.0.2:3",
      ]);
    },
  );
  await t.step("nothing for no sockets", () => {
    assert.equal(parseSocketBytes("").bytes.size, 0);
  });
  await t.step("a socket line with a peer it cannot read throws", () => {
    assert.throws(
      () => parseSocketBytes("0 0 127.0.0.1:1 nonsense\n\t bytes_received:1\n"),
      /Cannot parse ss output "0 0 127.0.0.1:1 nonsense"/,
    );
  });
  await t.step("Deno's peer and ss's meet on one key", () => {
    assert.equal(peerKey("::ffff:127.0.0.1", 1), peerKey("127.0.0.1", 1));
    assert.equal(peerKey("::1", 1), peerKey("[::1]", 1));
  });
});

Deno.test("SocketBytesReader reads the kernel's count, or says why not", async (t) => {
  await t.step({
    name: "the bytes a client sent on a loopback connection",
    ignore: !hasSs(),
    fn: async () => {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const client = await Deno.connect({
        hostname: "127.0.0.1",
        port: listener.addr.port,
      });
      using accepted = await listener.accept();
      try {
        await client.write(new Uint8Array(5000));
        const buffer = new Uint8Array(8192);
        let read = 0;
        while (read < 5000) read += (await accepted.read(buffer)) ?? 5000;
        const reader = new SocketBytesReader(listener.addr.port);
        const reading = await reader.read();
        const again = reader.readSync();
        assert.ok("bytes" in reading, JSON.stringify(reading));
        assert.ok("bytes" in again, JSON.stringify(again));
        // Whether it still counts as sending moves with the clock.
        assert.deepEqual(again.bytes, reading.bytes);
        const peer = client.localAddr as Deno.NetAddr;
        const key = peerKey(peer.hostname, peer.port);
        assert.equal(reading.bytes.get(key), 5000);
        // Who still sends is read too (whether this client is depends on
        // how long `ss` took: the parser's step above tests the rule).
        assert.ok(reading.sending instanceof Set, "who still sends");
      } finally {
        client.close();
      }
    },
  });
  await t.step("a program that is missing: unavailable", async () => {
    const reading = await new SocketBytesReader(1, {
      command: "no-such-ss-here",
    }).read();
    assert.ok("unavailable" in reading);
    assert.match(reading.unavailable, /no-such-ss-here/);
  });
  await t.step(
    "ss that cannot open netlink (it lists /proc/net/tcp, with no counts, and exits 0): unavailable",
    async () => {
      await using ss = await netlinkLessSs();
      const reader = new SocketBytesReader(1, { command: ss.path });
      for (const reading of [await reader.read(), reader.readSync()]) {
        assert.ok("unavailable" in reading, JSON.stringify(reading));
        assert.match(reading.unavailable, /Cannot open netlink socket/);
      }
    },
  );
  await t.step(
    "a program past its deadline: stopped, unavailable",
    async () => {
      const dir = await Deno.makeTempDir();
      try {
        const slow = `${dir}/ss`;
        await Deno.writeTextFile(slow, "#!/bin/sh\nexec sleep 30\n");
        await Deno.chmod(slow, 0o755);
        const started = performance.now();
        const reading = await new SocketBytesReader(1, {
          command: slow,
          timeoutMs: 200,
        }).read();
        assert.ok("unavailable" in reading, JSON.stringify(reading));
        assert.match(reading.unavailable, /stopped after 200 ms/);
        assert.ok(performance.now() - started < 10_000);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

Deno.test("readKernel() blocks the loop at a memory incident and before a recycle, and waits for a stall only reported", async (t) => {
  const calls: string[] = [];
  const source = {
    read: () => {
      calls.push("read");
      return Promise.resolve({ bytes: new Map([["127.0.0.1:1", 5]]) });
    },
    readSync: () => {
      calls.push("readSync");
      return { bytes: new Map([["127.0.0.1:1", 5]]) };
    },
  };
  await t.step(
    "uncounted_memory: synchronously (a turn collects more fragments)",
    async () => {
      const reading = await readKernel(source, "uncounted_memory");
      assert.deepEqual(calls.splice(0), ["readSync"]);
      assert.ok("bytes" in reading && reading.bytes.size === 1);
    },
  );
  await t.step(
    "event_loop_stall and unanswered_closes before a recycle: synchronously (a held loop is often fragments)",
    async () => {
      await readKernel(source, "event_loop_stall", true);
      await readKernel(source, "unanswered_closes", true);
      assert.deepEqual(calls.splice(0), ["readSync", "readSync"]);
    },
  );
  await t.step(
    "event_loop_stall only reported (deno serve): awaited",
    async () => {
      await readKernel(source, "event_loop_stall");
      assert.deepEqual(calls.splice(0), ["read"]);
    },
  );
  await t.step("no reader: unavailable", async () => {
    assert.deepEqual(await readKernel(undefined, "event_loop_stall"), {
      unavailable: "no listener port",
    });
  });
});
