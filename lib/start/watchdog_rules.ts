/**
 * What the RSS watchdog thread (`watchdog_thread.ts`) decides, apart from
 * what it reads and does: when a held loop has lasted long enough for it to
 * act, and which connections an abort takes. Pure and self-contained (no
 * import or outer name): the thread runs from source text and
 * `rss_watchdog.ts` gives it these as text; here they are tested without a
 * thread, a socket or a clock.
 *
 * @module
 */
/** One reading of RSS within a held stretch (the loop has not turned). */
export interface HeldReading {
  /** RSS now, in bytes. */
  rssBytes: number;
  /** How long the watch on the main loop has gone without a sample, in ms. */
  heldMs: number;
  /** How much RSS grew since the thread's first reading of this stretch, in bytes. */
  grownBytes: number;
  /** How long ago that first reading was, in ms. */
  grownMs: number;
}

/**
 * Whether a held loop has lasted long enough for the thread to abort
 * connections on RSS past MAX_RSS_BYTES: `heldMs` (HELD_MS,
 * `rss_watchdog.ts`), or sooner where the stretch grew more than
 * `honestGrowthBytes` (twice what one message may bring) and, at the pace
 * it grew, RSS would reach `killAtBytes` within `actMs` (the time an abort
 * begun now takes to free anything). Ending the process, which takes every
 * client, waits HELD_MS whatever the pace, as before.
 *
 * Why both: a long garbage collection or a machine short of cores holds
 * the loop without reading (RSS does not grow), and a held loop reads at
 * most one message of one honest client (Deno reads the next only once the
 * app took the one before), so neither acts before HELD_MS, as before. But
 * an endless fragmented message grew RSS 300-400 MiB/s (issue #20): the
 * 128 MiB from MAX_RSS_BYTES 256 MiB to its kill line (plus 50%) lasts
 * 320-430 ms at that pace, and an abort after a 1,009 ms hold came at
 * 379.8 MiB (`tests/start/overload_held_loop_test.ts`: peak 384.7 MiB
 * against its 384 MiB bound, 1 of 9 runs).
 *
 * @example An endless message at 350 MiB/s, just past MAX_RSS_BYTES
 * ```ts
 * import assert from "node:assert/strict";
 * import { heldLongEnough } from "./watchdog_rules.ts";
 * const MiB = 2 ** 20;
 * const orders = { heldMs: 1000, honestGrowthBytes: 2.1 * MiB };
 * const past = { rssBytes: 260 * MiB, heldMs: 300, grownBytes: 35 * MiB, grownMs: 100 };
 * assert.ok(heldLongEnough(past, { ...orders, killAtBytes: 384 * MiB, actMs: 500 }));
 * // A pause that grows nothing waits HELD_MS.
 * const paused = { ...past, heldMs: 900, grownBytes: 0 };
 * assert.ok(!heldLongEnough(paused, { ...orders, killAtBytes: 384 * MiB, actMs: 500 }));
 * assert.ok(heldLongEnough({ ...paused, heldMs: 1000 }, { ...orders, killAtBytes: 384 * MiB, actMs: 500 }));
 * ```
 */
export function heldLongEnough(
  reading: HeldReading,
  rule: {
    /** The longest the thread waits, in ms: `WatchdogOrders.heldMs`. */
    heldMs: number;
    /** Growth within the stretch no honest hold makes, in bytes: `WatchdogOrders.honestGrowthBytes`. */
    honestGrowthBytes: number;
    /** Where the thread ends the process now, in bytes. */
    killAtBytes: number;
    /** How long the abort takes to free memory, in ms. */
    actMs: number;
  },
): boolean {
  if (reading.heldMs >= rule.heldMs) return true;
  if (reading.grownBytes <= rule.honestGrowthBytes || reading.grownMs <= 0) {
    return false;
  }
  const bytesPerMs = reading.grownBytes / reading.grownMs;
  return reading.rssBytes + bytesPerMs * rule.actMs >= rule.killAtBytes;
}

/** One reading of RSS by the thread: bytes, and when (ms, any one clock). */
export interface RssReading {
  rssBytes: number;
  at: number;
}

/**
 * Whether RSS is rising too fast for the thread to wait for a held loop:
 * from `lookAtBytes` (half of MAX_RSS_BYTES) up, it grew more than
 * `honestGrowthBytes` (twice what one message may bring) since the reading
 * before, and at that pace would pass `abortAtBytes` (MAX_RSS_BYTES) within
 * `actMs` (the time an abort begun now takes to free anything). Then the
 * thread looks at once, whether or not the loop is held, and aborts what
 * the surge rule names (`chooseAborts` with `held`: this process's own
 * connections read more than one message beyond the payload the app saw).
 *
 * Why: the held-loop rules act only once the watch has gone
 * `LOOK_HELD_MS` (250 ms) without a sample, and a look and an abort take
 * more. Four endless fragmented messages on a quiet machine grew RSS about
 * 1.6-1.9 GB/s (loopback, `deno task soak --overload`, load 0.7): the
 * thread's first abort came after a 293 ms hold at 645 MiB, and the peak
 * was 654 MiB at MAX_RSS_BYTES 256 MiB (2.55x; issue #20).
 *
 * @example Four endless messages, and an honest process
 * ```ts
 * import assert from "node:assert/strict";
 * import { rising } from "./watchdog_rules.ts";
 * const MiB = 2 ** 20;
 * const rule = {
 *   lookAtBytes: 128 * MiB,
 *   abortAtBytes: 256 * MiB,
 *   honestGrowthBytes: 2.1 * MiB,
 *   actMs: 600,
 * };
 * // 32 MiB in 20 ms (1.6 GiB/s) at 140 MiB: MAX_RSS_BYTES within 80 ms.
 * const before = { rssBytes: 108 * MiB, at: 1000 };
 * assert.ok(rising({ before, now: { rssBytes: 140 * MiB, at: 1020 } }, rule));
 * // The same growth below half of MAX_RSS_BYTES: not yet.
 * assert.ok(!rising({
 *   before: { rssBytes: 60 * MiB, at: 1000 },
 *   now: { rssBytes: 92 * MiB, at: 1020 },
 * }, rule));
 * // 2 MiB in 20 ms: what one message may bring.
 * assert.ok(!rising({
 *   before: { rssBytes: 128 * MiB, at: 1000 },
 *   now: { rssBytes: 130 * MiB, at: 1020 },
 * }, rule));
 * // 8 MiB in a second: MAX_RSS_BYTES is far ahead at that pace.
 * assert.ok(!rising({
 *   before: { rssBytes: 200 * MiB, at: 0 },
 *   now: { rssBytes: 208 * MiB, at: 1000 },
 * }, rule));
 * ```
 */
export function rising(
  readings: { before: RssReading; now: RssReading },
  rule: {
    /** From where it looks at all, in bytes: `WatchdogOrders.lookAtBytes`. */
    lookAtBytes: number;
    /** MAX_RSS_BYTES, in bytes: `WatchdogOrders.abortAtBytes`. */
    abortAtBytes: number;
    /** Growth no honest message makes, in bytes: `WatchdogOrders.honestGrowthBytes`. */
    honestGrowthBytes: number;
    /** How long the abort takes to free memory, in ms. */
    actMs: number;
  },
): boolean {
  const { before, now } = readings;
  const grown = now.rssBytes - before.rssBytes;
  const ms = now.at - before.at;
  if (
    now.rssBytes < rule.lookAtBytes || grown <= rule.honestGrowthBytes ||
    ms <= 0
  ) return false;
  return now.rssBytes + grown / ms * rule.actMs >= rule.abortAtBytes;
}

/** One connection an abort names, and how much it was read. */
export interface Named {
  /** The peer as `readPeers` (`watchdog_readings.ts`) keys it: `host port`. */
  peer: string;
  /**
   * Bytes read from it since the look compared with, on a held loop alone
   * beyond the payload the app saw (see `ThreadAbort.readBytes`).
   */
  growth: number;
}

/**
 * Which connections one abort of the thread takes, from two looks
 * (`readPeers` maps, `host port` to bytes read), most read first:
 * - on a held loop alone, or RSS `rising` (`held`, the flood and surge
 *   rules, which hold whether the loop turned or not): this process's own
 *   (`own`), each read at least `floodMinReadBytes` (MAX_MESSAGE_BYTES
 *   plus slack) between them beyond the payload the app saw of it
 *   meanwhile (`seenGrowth`), named. Deno hands pipelined messages to the
 *   app one after another without letting the watch's timer run
 *   (ext/websocket/01_websocket.js ~754), so an honest client sending
 *   1 MiB messages was read 9-16 MiB in one "held" stretch and struck
 *   (room_fan_out_test at load 18-32); what Deno answers itself (pongs,
 *   pings, empty frames, as an attack review flooded) reaches no app and
 *   still counts;
 * - past MAX_RSS_BYTES (not `held`): each read at least
 *   `abortMinReadBytes` between them, named; and the sweep, own
 *   connections with no complete message yet (`unseen` gives what the app
 *   saw of them, undefined once one came) read more than `holdingBytes`
 *   beyond that: swept, or named where that is more than
 *   `floodMinReadBytes` (no honest client holds more than a message
 *   unseen).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseAborts } from "./watchdog_rules.ts";
 * const KiB = 1024, MiB = 1024 * KiB;
 * const rule = {
 *   abortMinReadBytes: MiB,
 *   floodMinReadBytes: MiB + 64 * KiB,
 *   holdingBytes: 16 * KiB,
 *   own: (peer: string) => peer !== "127.0.0.9 9",
 *   unseen: (peer: string) => peer === "127.0.0.3 3" ? 0 : undefined,
 *   seenGrowth: () => 0,
 * };
 * const before = new Map([["127.0.0.2 2", 0], ["127.0.0.9 9", 0]]);
 * const after = new Map([
 *   ["127.0.0.2 2", 2 * MiB], // read 2 MiB between the looks
 *   ["127.0.0.3 3", 64 * KiB], // 64 KiB, none of it seen by the app
 *   ["127.0.0.9 9", 3 * MiB], // another worker's
 * ]);
 * assert.deepEqual(chooseAborts({ before, after, held: false }, rule), {
 *   named: [{ peer: "127.0.0.9 9", growth: 3 * MiB }, { peer: "127.0.0.2 2", growth: 2 * MiB }],
 *   swept: ["127.0.0.3 3"],
 * });
 * assert.deepEqual(chooseAborts({ before, after, held: true }, rule), {
 *   named: [{ peer: "127.0.0.2 2", growth: 2 * MiB }],
 *   swept: [],
 * });
 * // The same 2 MiB were two messages the app saw: an honest pipeliner.
 * const seenGrowth = (peer: string) => peer === "127.0.0.2 2" ? 2 * MiB : 0;
 * assert.deepEqual(
 *   chooseAborts({ before, after, held: true }, { ...rule, seenGrowth }),
 *   { named: [], swept: [] },
 * );
 * ```
 */
export function chooseAborts(
  looks: {
    before: ReadonlyMap<string, number>;
    after: ReadonlyMap<string, number>;
    held: boolean;
  },
  rule: {
    abortMinReadBytes: number;
    floodMinReadBytes: number;
    holdingBytes: number;
    own: (peer: string) => boolean;
    unseen: (peer: string) => number | undefined;
    /**
     * Payload the app saw of `peer` between the looks, in bytes (0 where
     * unknown); read only when `held`.
     */
    seenGrowth: (peer: string) => number;
  },
): { named: Named[]; swept: string[] } {
  const { before, after, held } = looks;
  const least = held ? rule.floodMinReadBytes : rule.abortMinReadBytes;
  const named = [...after]
    .filter(([peer]) => !held || rule.own(peer))
    .map(([peer, read]) => {
      const growth = read - (before.get(peer) ?? 0);
      return { peer, growth: held ? growth - rule.seenGrowth(peer) : growth };
    })
    .filter(({ growth }) => growth >= least)
    .sort((a, b) => b.growth - a.growth);
  if (held) return { named, swept: [] };
  const taken = new Set(named.map(({ peer }) => peer));
  // The sweep: own connections holding unseen bytes, no message.
  const holders = [...after]
    .map(([peer, read]) => {
      const seen = rule.unseen(peer);
      return { peer, growth: seen === undefined ? 0 : read - seen };
    })
    .filter(({ peer, growth }) =>
      !taken.has(peer) && growth > rule.holdingBytes
    );
  // More unseen than any message this service takes, with none complete:
  // no honest client holds that, so it is named (struck) with the ones
  // read from; the rest are only swept.
  named.push(
    ...holders.filter(({ growth }) => growth > rule.floodMinReadBytes),
  );
  const swept = holders
    .filter(({ growth }) => growth <= rule.floodMinReadBytes)
    .map(({ peer }) => peer);
  return { named, swept };
}

/**
 * The `ss -K` filters that abort `peers` (`host port`, IPv6 hosts
 * unbracketed) on the listener's `port`: at most 256 peers a filter, as
 * `socket_abort.ts`, since each filter is one argument.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortFilters } from "./watchdog_rules.ts";
 * assert.deepEqual(abortFilters(["127.0.0.2 40000", "::1 40001"], 8080), [
 *   "( sport = :8080 ) and ( dst 127.0.0.2:40000 or dst [::1]:40001 )",
 * ]);
 * assert.equal(abortFilters(Array(257).fill("127.0.0.2 1"), 1).length, 2);
 * ```
 */
export function abortFilters(peers: readonly string[], port: number): string[] {
  const each = peers.map((peer) => {
    const [host, remote] = peer.split(" ");
    return `dst ${host!.includes(":") ? `[${host}]` : host}:${remote}`;
  });
  const filters: string[] = [];
  for (let at = 0; at < each.length; at += 256) {
    filters.push(
      `( sport = :${port} ) and ( ${each.slice(at, at + 256).join(" or ")} )`,
    );
  }
  return filters;
}

/**
 * Which connections of the listener do not read what the process sends,
 * from two looks' send queues (`readSendQueues`, `watchdog_readings.ts`:
 * `host port` to Send-Q bytes), fullest first: each with at least
 * `unreadMinBytes` waiting in the kernel at both looks and no less at the
 * second. A peer that reads empties its queue within a round trip (on
 * loopback, microseconds), so at the second look it has shrunk; one that
 * does not read keeps it full while Deno queues every further echo for it
 * in the process (256 clients that send 1 MiB and never read: Send-Q
 * about 1 MiB each, the process killed at MAX_RSS_BYTES + 25% with "no
 * connection was read from", notes f3.md). Any worker's: under `deno serve
 * --parallel` the workers share one RSS, and the kernel's queue needs no
 * word from the app. The thread takes these past MAX_RSS_BYTES with the
 * loop held only when nothing was read from, as the last thing before
 * ending the process, which takes every client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseUnread } from "./watchdog_rules.ts";
 * const KiB = 1024, MiB = 1024 * KiB;
 * const before = new Map([
 *   ["127.0.0.2 2", MiB], // never reads
 *   ["127.0.0.3 3", MiB], // reads: drained by the second look
 *   ["127.0.0.4 4", 2 * MiB], // never reads, fuller
 *   ["127.0.0.6 6", 8 * KiB], // under 64 KiB
 * ]);
 * const after = new Map([
 *   ["127.0.0.2 2", MiB],
 *   ["127.0.0.3 3", 8 * KiB],
 *   ["127.0.0.4 4", 2 * MiB],
 *   ["127.0.0.6 6", 8 * KiB],
 *   ["127.0.0.5 5", MiB], // not in the look before
 * ]);
 * assert.deepEqual(
 *   chooseUnread({ before, after }, { unreadMinBytes: 64 * KiB }),
 *   ["127.0.0.4 4", "127.0.0.2 2"],
 * );
 * ```
 */
export function chooseUnread(
  looks: {
    before: ReadonlyMap<string, number>;
    after: ReadonlyMap<string, number>;
  },
  rule: {
    /** Send-Q no reading peer keeps across two looks, in bytes: `WatchdogOrders.unreadMinBytes`. */
    unreadMinBytes: number;
  },
): string[] {
  const { before, after } = looks;
  return [...after]
    .filter(([peer, queued]) => {
      const was = before.get(peer);
      return was !== undefined && was >= rule.unreadMinBytes && queued >= was;
    })
    .sort((a, b) => b[1] - a[1])
    .map(([peer]) => peer);
}

/**
 * Whether a memory round that found nothing to abort ends the thread's
 * tries for the rest of this held stretch, which lowers its kill line
 * from `killAtBytes` (MAX_RSS_BYTES plus 50%) to `capBytes` (plus 25%):
 * only when RSS still grew during the round (`grownBytes`, between its
 * start and its end, two looks apart at least: more than
 * `honestGrowthBytes`) while the app saw no message payload in this
 * stretch (`seenBytes`, told by the main loop at the end of its turns)
 * and the kernel read more than `honestGrowthBytes` from the listener's
 * connections between the round's looks (`readBytes`, every worker's:
 * growth the network feeds, which no abort could take). Not for a round
 * before HELD_MS (`early`: tried again at the next look). Memory that
 * does not grow is held by what was read before the hold, which the loop
 * frees once it turns; memory that grows with nothing read is bounded by
 * what is already inside (Deno's buffers, echoes queued before the hold,
 * the other worker's turns): both keep plus 50%, where the process ends
 * if it grows on, as before.
 *
 * Why: a first wave of 256 clients sending 1 MiB and never reading
 * (MAX_RSS_BYTES 256 MiB, `deno task start`) holds about 2 MiB of Deno's
 * per-connection buffers per open connection, read before the hold, which
 * the app counts and frees as the memory guard's closes land (RSS fell 160
 * MiB as 112 connections went, 88 MiB as 47 went); the V8 heap stayed 8
 * MiB with at most 1 MiB external at every turn. The thread killed it at
 * plus 25% (341-349 MB) after a 1.2 s hold with "0.0 MiB read in all";
 * runs with the kill off peaked at 302-361 MiB and lived (rssfind.md).
 * Under `deno task serve` every such death after the workers' threads
 * shared their word was this line after "no connection was read from"
 * with 2-15 connections left and 0.0 MiB read (issue #20).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { givesUp } from "./watchdog_rules.ts";
 * const MiB = 2 ** 20;
 * const orders = { honestGrowthBytes: 2.1 * MiB };
 * const round = { early: false, seenBytes: 0, grownBytes: 40 * MiB, readBytes: 8 * MiB };
 * assert.ok(givesUp(round, orders));
 * // Nothing grows: what was read before the hold, freed when it turns.
 * assert.ok(!givesUp({ ...round, grownBytes: 0 }, orders));
 * // Nothing read: the growth is bounded by what is already inside.
 * assert.ok(!givesUp({ ...round, readBytes: 0 }, orders));
 * // Messages still reach the app: the memory guard is acting.
 * assert.ok(!givesUp({ ...round, seenBytes: MiB }, orders));
 * assert.ok(!givesUp({ ...round, early: true }, orders));
 * ```
 */
export function givesUp(
  round: {
    early: boolean;
    /** Payload every worker's app saw in this stretch, in bytes. */
    seenBytes: number;
    /** RSS growth during the round, in bytes. */
    grownBytes: number;
    /** What the kernel read from the listener's connections between the round's looks, in bytes. */
    readBytes: number;
  },
  orders: { honestGrowthBytes: number },
): boolean {
  return !round.early && round.seenBytes === 0 &&
    round.grownBytes > orders.honestGrowthBytes &&
    round.readBytes > orders.honestGrowthBytes;
}
