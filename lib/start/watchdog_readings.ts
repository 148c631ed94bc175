/**
 * What the RSS watchdog thread (`watchdog_thread.ts`) reads with: the bytes
 * read per connection from `ss` output, and how long to wait between two
 * readings of RSS. Each is self-contained (no import or outer name): the
 * thread runs from source text, and `rss_watchdog.ts` gives them to it as
 * text. Split from `watchdog_thread.ts`.
 *
 * @module
 */
import type { SsSocket } from "./socket_bytes.ts";
import type { WatchdogOrders } from "./watchdog_orders.ts";

/**
 * What the process has read from each connection, from the sockets of
 * `ss -tinH state established` output as `ssSockets` (`socket_bytes.ts`,
 * the one reader of that output) gives them: `bytes_received` minus
 * Recv-Q, per `host port` (the host without brackets: `::ffff:127.0.0.2`
 * on a dual-stack listener); a socket whose fields are not integers is
 * left out. Self-contained, like `watchdogThread` (`watchdog_thread.ts`), which is given it
 * over `ssSockets` (`rss_watchdog.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPeers } from "./watchdog_readings.ts";
 * import { ssSockets } from "./socket_bytes.ts";
 * const text = "5 0 [::ffff:127.0.0.1]:8080 [::ffff:127.10.0.2]:40000\n" +
 *   "\t bbr bytes_sent:9 bytes_received:2000 segs_out:3\n" +
 *   "0 0 127.0.0.1:8080 127.0.0.3:40001\n\t bbr bytes_acked:1\n";
 * assert.deepEqual([...readPeers(ssSockets(text))], [
 *   ["::ffff:127.10.0.2 40000", 1995],
 *   ["127.0.0.3 40001", 0],
 * ]);
 * ```
 */
export function readPeers(
  sockets: readonly SsSocket[],
): Map<string, number> {
  const read = new Map<string, number>();
  for (const { host, port, recvQ, received } of sockets) {
    if (
      host === undefined ||
      ![recvQ, port, received].every(Number.isSafeInteger)
    ) continue;
    read.set(`${host} ${port}`, Math.max(0, received - recvQ));
  }
  return read;
}

/**
 * How long the thread waits after a reading before it reads again, in ms:
 * {@link WatchdogOrders.everyMs} from {@link WatchdogOrders.lookAtBytes} up
 * (where it may act), or while the loop has been held
 * {@link WatchdogOrders.floodLookHeldMs} (where it looks whatever the RSS);
 * else the time RSS growing at {@link WatchdogOrders.growthBytesPerSecond}
 * ({@link WatchdogOrders.surgeBytesPerSecond} while the watch is busy)
 * takes to reach `lookAtBytes`, at most {@link WatchdogOrders.quietEveryMs}.
 * So an idle process wakes a few times a second instead of 50 times, and
 * memory growing no faster than that is still read by the time it reaches
 * where the thread acts. Below `lookAtBytes` nothing the thread does starts
 * before that hold; a shorter one (`LOOK_HELD_MS`, 250 ms, before) was
 * passed in every gap of the quiet watch's 300 ms beat (`QUIET_SAMPLE_MS`),
 * so an idle process read every 20 ms for ~50 ms of each.
 * Self-contained, like `watchdogThread` (`watchdog_thread.ts`), which is
 * given it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDelayMs } from "./watchdog_readings.ts";
 * const MiB = 2 ** 20;
 * const orders = {
 *   lookAtBytes: 200 * MiB,
 *   everyMs: 20,
 *   quietEveryMs: 1000,
 *   growthBytesPerSecond: 400 * MiB,
 *   surgeBytesPerSecond: 1600 * MiB,
 *   floodLookHeldMs: 500,
 * };
 * assert.equal(readDelayMs({ rssBytes: 60 * MiB, heldMs: 0 }, orders), 350);
 * assert.equal(readDelayMs({ rssBytes: 199 * MiB, heldMs: 0 }, orders), 20);
 * assert.equal(readDelayMs({ rssBytes: 300 * MiB, heldMs: 0 }, orders), 20);
 * assert.equal(
 *   readDelayMs({ rssBytes: 0, heldMs: 0 }, { ...orders, lookAtBytes: 2000 * MiB }),
 *   1000,
 * );
 * // Between two beats of a quiet watch (300 ms): not held.
 * assert.equal(readDelayMs({ rssBytes: 60 * MiB, heldMs: 290 }, orders), 350);
 * assert.equal(readDelayMs({ rssBytes: 60 * MiB, heldMs: 500 }, orders), 20);
 * // A busy watch (connections open): four times the pace.
 * assert.equal(readDelayMs({ rssBytes: 60 * MiB, heldMs: 0, busy: true }, orders), 88);
 * ```
 */
export function readDelayMs(
  reading: {
    /** RSS just read, in bytes. */
    rssBytes: number;
    /** How long the watch on the main loop has gone without a sample, in ms. */
    heldMs: number;
    /**
     * Whether the watch is busy (`RssWatchdog.beat`): growth is then
     * allowed for up to {@link WatchdogOrders.surgeBytesPerSecond}.
     * @default {false}
     */
    busy?: boolean;
  },
  orders: Pick<
    WatchdogOrders,
    | "lookAtBytes"
    | "everyMs"
    | "quietEveryMs"
    | "growthBytesPerSecond"
    | "surgeBytesPerSecond"
    | "floodLookHeldMs"
  >,
): number {
  if (reading.heldMs >= orders.floodLookHeldMs) return orders.everyMs;
  const reachMs = (orders.lookAtBytes - reading.rssBytes) /
    (reading.busy ? orders.surgeBytesPerSecond : orders.growthBytesPerSecond) *
    1000;
  return Math.round(
    Math.min(orders.quietEveryMs, Math.max(orders.everyMs, reachMs)),
  );
}

/**
 * What waits in each connection's kernel send queue, from the sockets of
 * `ss -tinH state established` output as `ssSockets` (`socket_bytes.ts`)
 * gives them: Send-Q per `host port`, as {@link readPeers} keys them; a
 * socket whose fields are not integers is left out. A peer that reads
 * empties it within a round trip; one that does not read leaves it full
 * while Deno queues what no longer fits (`chooseUnread`,
 * `watchdog_rules.ts`). Self-contained, like {@link readPeers}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSendQueues } from "./watchdog_readings.ts";
 * import { ssSockets } from "./socket_bytes.ts";
 * const text = "0 1015818 127.0.0.1:8080 127.10.0.2:40000\n" +
 *   "\t bbr bytes_received:2000\n0 0 127.0.0.1:8080 127.0.0.3:40001\n";
 * assert.deepEqual([...readSendQueues(ssSockets(text))], [
 *   ["127.10.0.2 40000", 1015818],
 *   ["127.0.0.3 40001", 0],
 * ]);
 * ```
 */
export function readSendQueues(
  sockets: readonly SsSocket[],
): Map<string, number> {
  const queued = new Map<string, number>();
  for (const { host, port, sendQ } of sockets) {
    if (host === undefined || ![sendQ, port].every(Number.isSafeInteger)) {
      continue;
    }
    queued.set(`${host} ${port}`, sendQ);
  }
  return queued;
}
