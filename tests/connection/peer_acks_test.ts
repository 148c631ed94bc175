/**
 * The kernel's word on who reads (`lib/connection/peer_acks.ts`), from
 * readings shaped like those measured beside 128 clients of 1 MiB that
 * never read: a reader acknowledges its queue within seconds, a client that
 * never reads 8 KiB now and then of about 1 MB queued. No network.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type AckReading,
  FRESH_MS,
  PeerAcks,
} from "../../lib/connection/peer_acks.ts";

const KiB = 1024;
const key = (hostname: string, port: number) => `${hostname}:${port}`;
const peer = (port: number): Deno.NetAddr => ({
  transport: "tcp",
  hostname: "127.0.0.2",
  port,
});

/** Feeds `readings[i]` (peer port -> reading) at `i * everyMs`. */
function feed(
  book: PeerAcks,
  readings: Array<Record<number, AckReading>>,
  everyMs = 500,
): number {
  let at = 0;
  readings.forEach((reading, i) => {
    at = i * everyMs;
    book.update(
      new Map(
        Object.entries(reading).map((
          [port, one],
        ) => [`127.0.0.2:${port}`, one]),
      ),
      at,
    );
  });
  return at;
}

Deno.test("PeerAcks tells a client that reads from one that never does", async (t) => {
  await t.step(
    "a slow reader: 50 KB acknowledged every half second, 100 KB queued: acking",
    () => {
      const book = new PeerAcks(key);
      const now = feed(
        book,
        [0, 1, 2].map((i) => ({
          1: { sendQ: 100_000, acked: 64 * KiB + i * 50_000 },
        })),
      );
      assert.equal(book.said(peer(1), now), "acking");
    },
  );
  await t.step(
    "one that never reads: 32 KiB at once, then 8 KiB a second of 1 MB queued: stalled, never acking",
    () => {
      const book = new PeerAcks(key);
      const said: Array<string | undefined> = [];
      const readings: AckReading[] = [{ sendQ: 0, acked: 196 }];
      for (let i = 0; i < 8; i++) {
        readings.push({
          sendQ: 1_015_818,
          acked: 32_964 + Math.floor(i / 2) * 8192,
        });
      }
      let at = 0;
      for (const reading of readings) {
        at += 500;
        book.update(new Map([["127.0.0.2:1", reading]]), at);
        said.push(book.said(peer(1), at));
      }
      assert.ok(!said.includes("acking"), said.join(" "));
      assert.equal(said.at(-1), "stalled");
    },
  );
  await t.step(
    "a reader that pauses 0.8 s is not stalled",
    () => {
      const book = new PeerAcks(key);
      const acked = [0, 50_000, 50_000, 50_000, 100_000, 150_000];
      let at = 0;
      const said: Array<string | undefined> = [];
      for (const one of acked) {
        book.update(
          new Map([["127.0.0.2:1", { sendQ: 60_000, acked: 64 * KiB + one }]]),
          at,
        );
        said.push(book.said(peer(1), at));
        at += 400;
      }
      assert.ok(!said.includes("stalled"), said.join(" "));
    },
  );
  await t.step(
    "a reader that has read everything and is sent nothing stays acking",
    () => {
      const book = new PeerAcks(key);
      const now = feed(book, [
        { 1: { sendQ: 100_000, acked: 64 * KiB } },
        { 1: { sendQ: 50_000, acked: 64 * KiB + 50_000 } },
        { 1: { sendQ: 0, acked: 64 * KiB + 100_000 } },
        { 1: { sendQ: 0, acked: 64 * KiB + 100_000 } },
        { 1: { sendQ: 0, acked: 64 * KiB + 100_000 } },
      ]);
      assert.equal(book.said(peer(1), now), "acking");
    },
  );
  await t.step(
    "nothing is said from a stale reading, of a peer no longer listed, or of a port's new connection",
    () => {
      const book = new PeerAcks(key);
      const now = feed(
        book,
        [0, 1, 2].map((i) => ({
          1: { sendQ: 100_000, acked: 64 * KiB + i * 50_000 },
          2: { sendQ: 100_000, acked: 64 * KiB + i * 50_000 },
        })),
      );
      assert.equal(book.said(peer(1), now + FRESH_MS + 1), undefined);
      book.update(
        new Map([["127.0.0.2:2", { sendQ: 100_000, acked: 70 * KiB }]]),
        now + 500,
      );
      assert.equal(book.said(peer(1), now + 500), undefined, "gone");
      assert.equal(book.said(peer(2), now + 500), undefined, "started over");
    },
  );
  await t.step("an idle client of small messages is not kept", () => {
    const book = new PeerAcks(key);
    feed(book, [{ 1: { sendQ: 0, acked: 300 } }, {
      1: { sendQ: 0, acked: 900 },
    }]);
    assert.equal(book.size, 0);
  });
  await t.step("a reading older than the last one is left out", () => {
    const book = new PeerAcks(key);
    const now = feed(
      book,
      [0, 1, 2].map((i) => ({
        1: { sendQ: 100_000, acked: 64 * KiB + i * 50_000 },
      })),
    );
    book.update(new Map([["127.0.0.2:1", { sendQ: 0, acked: 1 }]]), now - 1);
    assert.equal(book.said(peer(1), now), "acking");
  });
});
