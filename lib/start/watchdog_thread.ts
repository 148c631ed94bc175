/**
 * The RSS watchdog thread's own code (`rss_watchdog.ts` starts it from its
 * source text). It reads RSS and how long the watch on the main loop has
 * gone without a sample, every {@link WatchdogOrders.everyMs} from
 * {@link WatchdogOrders.lookAtBytes} up and less often below it, as often
 * as RSS growing at {@link WatchdogOrders.growthBytesPerSecond} could reach
 * it (`readDelayMs`, `watchdog_readings.ts`); while the
 * loop is held (Deno collecting an endless fragmented message inside one
 * read op, or answering a flood of frames, issue #20) it acts three ways:
 *
 * 1. Past {@link WatchdogOrders.abortAtBytes} (MAX_RSS_BYTES), once the
 *    loop has been held {@link WatchdogOrders.heldMs}, or sooner where RSS
 *    grows too fast for the margin to last that long (`heldLongEnough`,
 *    `watchdog_rules.ts`), where the kernel may destroy sockets
 *    (`ss -K`, CAP_NET_ADMIN), it aborts the
 *    listener's connections the process read most from since its look
 *    before (`ss -tinH`: `bytes_received` minus Recv-Q grows only on the
 *    connections Deno is draining; a held loop reads nothing else). The
 *    abort fails Deno's held read, which frees the fragments and lets the
 *    loop turn; the thread tells the main loop whom it aborted
 *    ({@link ThreadAbort}) so they are struck. Measured (`deno run -A
 *    bench/overload_facts.ts abort 8192 300`, load average 17): `ss`
 *    listed in 178 ms, aborted at 381 ms, RSS 336 -> 64 MiB within 250 ms
 *    of it, the loop (held 5.8 s) turned.
 * 2. Whatever the RSS, once the loop has been held
 *    {@link WatchdogOrders.floodHeldMs}, it aborts this process's own
 *    connections (every one of the port where it owns the listener,
 *    `WatchdogOrders.portOwned`; else those the main loop told it of,
 *    {@link WatchdogPeers}) read from by more than
 *    {@link WatchdogOrders.floodMinReadBytes} (MAX_MESSAGE_BYTES plus slack) since its first look of this held
 *    stretch (it looks from {@link WatchdogOrders.floodLookHeldMs}) beyond
 *    the payload the app saw of it meanwhile ({@link WatchdogPeers.seen},
 *    told every 32 KiB seen, `traffic.ts`): Deno answering a flood of
 *    frames it handles itself (pongs, empty continuations) inside its
 *    read ops, which do not return while more keep coming (an attack
 *    review's pong flood: a worker held 13.5 s, the flooders gone before
 *    it turned). "Held" is
 *    the watch's timer not running, and Deno hands an honest client's
 *    pipelined messages to the app one after another without it running
 *    (ext/websocket/01_websocket.js ~754: 9-16 MiB of 1 MiB messages read
 *    in one such stretch, fanout.md), so what the app saw is not counted;
 *    Deno reads the next message only once the app took the one before,
 *    so an honest client is read at most one message unseen (plus the
 *    32 KiB not yet told). Another worker's connections (`deno serve
 *    --parallel`: `ss` lists the whole port) are never taken: that
 *    worker's thread sees to them.
 * 3. Past MAX_RSS_BYTES with the loop held, in the same round as 1, it
 *    applies the main loop's sweep (`abortHolding`, `incident_aborts.ts`)
 *    to this process's own connections: it aborts each the process read
 *    more than {@link WatchdogOrders.holdingBytes} from beyond what the
 *    app saw, with no complete message from it yet (the main loop tells
 *    it, {@link WatchdogPeers.seen}, kept in a `PeerBook`,
 *    `watchdog_peer_book.ts`; with `WatchdogOrders.portOwned` one
 *    not yet told of counts as opened with nothing seen). An endless
 *    message split over 400 connections at 512 KiB/s each (an attack
 *    review) reads none of them
 *    1 MiB between two looks, and the held loop cannot run the sweep
 *    itself: the process was killed ("no connection was read from").
 *    A client that sent a complete message is never among them; these
 *    are aborted, not struck ({@link ThreadAbort.swept}; the main loop
 *    strikes those whose address it struck before), but for those
 *    holding more than {@link WatchdogOrders.floodMinReadBytes} unseen
 *    (more than any message this service takes, none complete: no honest
 *    client), named in {@link ThreadAbort.peers} and struck (an attacker
 *    taken only by the sweep was never refused on its third try).
 *    When that round finds nothing read from and nothing to sweep, it
 *    aborts (not strikes, {@link ThreadAbort.unread}) the listener's
 *    connections (any worker's: they share one RSS) whose kernel send
 *    queue stayed at least
 *    {@link WatchdogOrders.unreadMinBytes} and did not shrink between two
 *    looks (`chooseUnread`): clients that do not read, for which Deno
 *    queues every further echo (256 clients sending 1 MiB and never
 *    reading: the process was killed, "no connection was read from").
 * 4. Past {@link WatchdogOrders.killAtBytes}, or past
 *    {@link WatchdogOrders.capBytes} once it is known that it cannot abort
 *    (no listener port, `ss` cannot run, the kernel refused, nothing found
 *    to abort at {@link WatchdogOrders.heldMs} while RSS still grew, the
 *    kernel read on and the app saw no message in this stretch:
 *    `givesUp`), with the loop held
 *    {@link WatchdogOrders.heldMs}, it writes one log line and ends the
 *    process with SIGKILL (a supervisor brings it back).
 *
 * 5. Whether the loop is held or not, while RSS rises too fast to wait for
 *    that (`rising`, `watchdog_rules.ts`: from
 *    {@link WatchdogOrders.lookAtBytes} up, at a pace that would pass
 *    MAX_RSS_BYTES within {@link WatchdogOrders.abortTakesMs}), it looks at
 *    once and at each reading after, and aborts this process's own
 *    connections read more than {@link WatchdogOrders.floodMinReadBytes}
 *    beyond the payload the app saw since the surge's first look, as the
 *    flood rule of 2 counts them ({@link ThreadAbort.rising}): four
 *    endless fragmented messages on a quiet machine brought ~1.6 GB/s, and
 *    the held-loop rules, which wait for a 250 ms hold, acted at 645 MiB
 *    (MAX_RSS_BYTES 256 MiB, issue #20). An honest client is read at most
 *    one message beyond what the app saw, held loop or not. While the
 *    watch is busy it reads as often as
 *    {@link WatchdogOrders.surgeBytesPerSecond} needs, and the first
 *    connection after a quiet beat wakes it ({@link WatchdogWake}).
 *
 * `ss` output is read by `ssSockets` (`socket_bytes.ts`, given to the thread
 * as text too) and checked here with integer checks, not zod: the thread
 * runs from source text and can import nothing.
 *
 * @module
 */
import type {
  abortFilters,
  chooseAborts,
  chooseUnread,
  givesUp,
  heldLongEnough,
  rising,
} from "./watchdog_rules.ts";
import type {
  ThreadAbort,
  WatchdogOrders,
  WatchdogPeers,
  WatchdogWake,
} from "./watchdog_orders.ts";
import type { peerBook } from "./watchdog_peer_book.ts";

/**
 * What the thread is given beside its orders, as source text (it can
 * import nothing): `readPeers` over `ssSockets` (`watchdog_readings.ts`,
 * `socket_bytes.ts`), `readDelayMs` (`watchdog_readings.ts`), the main
 * loop's `peerKey` (`socket_bytes.ts`, so the two names of a peer cannot
 * drift: review stop35 F-D) and the pure rules of `watchdog_rules.ts`.
 */
export interface WatchdogTools {
  readPeers: (text: string) => Map<string, number>;
  /** `readSendQueues` over `ssSockets` (`watchdog_readings.ts`). */
  readSendQueues: (text: string) => Map<string, number>;
  chooseUnread: typeof chooseUnread;
  readDelay: (
    reading: { rssBytes: number; heldMs: number; busy: boolean },
    orders: WatchdogOrders,
  ) => number;
  peerKey: (hostname: string, port: number) => string;
  heldLongEnough: typeof heldLongEnough;
  chooseAborts: typeof chooseAborts;
  abortFilters: typeof abortFilters;
  givesUp: typeof givesUp;
  rising: typeof rising;
  peerBook: typeof peerBook;
}

/**
 * The thread's code. Self-contained: it runs from its own source text
 * (`Function.prototype.toString`), so it may use no import or outer name
 * but its {@link WatchdogTools}.
 */
export function watchdogThread(tools: WatchdogTools): void {
  const {
    readPeers,
    readSendQueues,
    chooseUnread,
    readDelay,
    peerKey,
    heldLongEnough,
    chooseAborts,
    abortFilters,
    givesUp,
    rising,
    peerBook,
  } = tools;
  // The connections of this process: the main loop's word, after the orders.
  const own = peerBook();
  let started = false;
  // Reads RSS now instead of at the reading scheduled (a `WatchdogWake`).
  let wake = () => {};
  globalThis.addEventListener("message", (event: Event) => {
    if (started) {
      const update = (event as MessageEvent<WatchdogPeers | WatchdogWake>)
        .data;
      if ("wake" in update) wake();
      else own.apply(update);
      return;
    }
    started = true;
    const orders = (event as MessageEvent<WatchdogOrders>).data;
    const beat = new BigInt64Array(orders.beat);
    // [0]: 1 once this runs; [1]: how many aborts it made.
    const shared = new Int32Array(orders.ready);
    Atomics.store(shared, 0, 1);
    Atomics.notify(shared, 0);
    const write = (text: string) => {
      const bytes = new TextEncoder().encode(text + "\n");
      let offset = 0;
      while (offset < bytes.length) {
        offset += Deno.stdout.writeSync(bytes.subarray(offset));
      }
    };
    const clock = () => performance.timeOrigin + performance.now();
    const decoder = new TextDecoder();
    const ssFailed = new RegExp(orders.ssFailed, "i");
    // Set when an `ss` of the current abort ran out of time: a busy
    // machine, not a finding, so that abort does not give up the stretch.
    let ssTimedOut = false;
    /** Runs `ss` with a deadline: its stdout, or undefined with a reason. */
    const ss = async (args: string[]) => {
      const deadline = AbortSignal.timeout(orders.ssTimeoutMs);
      try {
        const output = await new Deno.Command("ss", {
          args,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: deadline,
        }).output();
        if (deadline.aborted) {
          ssTimedOut = true;
          return { failed: `ss took over ${orders.ssTimeoutMs} ms` };
        }
        const stderr = decoder.decode(output.stderr);
        // No netlink: `ss` reads /proc (no counts) and -K destroys nothing.
        if (!output.success || ssFailed.test(stderr)) {
          return { failed: stderr.trim().slice(0, 200) || "ss failed" };
        }
        return { stdout: decoder.decode(output.stdout) };
      } catch (error) {
        if (deadline.aborted) ssTimedOut = true;
        return { failed: String(error).slice(0, 200) };
      }
    };
    /**
     * Bytes read per peer (`host port`): bytes_received minus Recv-Q, with
     * the watch's last sample before the look (it changes when the loop
     * turns) and the payload the app saw by then, taken before `ss` reads
     * (what the app sees meanwhile then counts as seen after this look:
     * the honest client's benefit).
     */
    const look = async () => {
      const beatAt = Atomics.load(beat, 0);
      const seen = own.seenAll();
      const listed = await ss([
        "-tinH",
        "state",
        "established",
        `( sport = :${orders.port} )`,
      ]);
      if (!("stdout" in listed)) return listed;
      const text = listed.stdout;
      return {
        at: clock(),
        beatAt,
        read: readPeers(text),
        seen,
        told: own.told(),
        text,
      };
    };
    type Look = {
      at: number;
      beatAt: bigint;
      read: Map<string, number>;
      seen: Map<string, number>;
      /** `PeerBook.told` at the look. */
      told: number;
      /** The look's `ss` output, for its send queues when they are needed. */
      text: string;
    };
    /** A peer of {@link readPeers} as the main loop names it (`peerKey`). */
    const ownKey = (peer: string) => {
      const [host, port] = peer.split(" ");
      return peerKey(host!, Number(port));
    };
    // False for good once the kernel refused or `ss` cannot run here.
    let abortable = orders.port > 0;
    // True for the rest of this held stretch once an abort found nothing.
    let futile = false;
    let acting = false;
    let last: Look | undefined;
    let first: Look | undefined;
    let nextAbortAt = 0;
    let nextFloodAt = 0;
    let lastFailure = abortable ? "" : "no listener port";
    const PERMANENT = new RegExp(orders.ssFailedForGood, "i");
    /** The look before, and the first look of this held stretch. */
    const remember = (seen: Look) => {
      last = seen;
      if (!first || first.beatAt !== seen.beatAt) first = seen;
    };
    /**
     * Aborts the connections read from most; why not, if it did not. Past
     * MAX_RSS_BYTES (`held` false): each read
     * {@link WatchdogOrders.abortMinReadBytes} since a look at most
     * {@link WatchdogOrders.lookFreshMs} old. On a held loop alone
     * (`held`): this process's own, each read more than
     * {@link WatchdogOrders.floodMinReadBytes} since the first look of
     * this held stretch (the loop has not turned since). RSS `rising`
     * (`surge`): this process's own, each read more than
     * {@link WatchdogOrders.floodMinReadBytes} beyond the payload the app
     * saw since the first look of this surge (`surgeFirst`), whether the
     * loop turned between or not.
     */
    /** Where it tells the workers whom it aborts (`suspectChannel`). */
    let aborting: BroadcastChannel | undefined;
    // What the kernel read from the listener's connections between the
    // last round's looks, in bytes (0 where a look failed), for `givesUp`.
    let roundReadBytes = 0;
    // The first look of a surge (RSS `rising`), kept `lookFreshMs`: an
    // abort takes the connection Deno is reading, and the next one it reads
    // is compared with it at the next look.
    let surgeFirst: Look | undefined;
    const abort = async (
      rss: number,
      heldMs: number,
      kind: "memory" | "flood" | "surge",
      stretch: bigint,
    ) => {
      ssTimedOut = false;
      roundReadBytes = 0;
      const held = kind !== "memory";
      const surge = kind === "surge";
      if (
        surge && (!surgeFirst || clock() - surgeFirst.at > orders.lookFreshMs)
      ) {
        const seen = await look();
        if (!("read" in seen)) return seen.failed;
        remember(seen);
        // The next look follows at once: on a quiet machine an endless
        // message is read 1 MiB in ~3 ms, and one that named nobody is
        // compared again at the next reading.
        surgeFirst = seen;
      }
      let before = surge ? surgeFirst : held ? first : last;
      if (!held && (!before || clock() - before.at > orders.lookFreshMs)) {
        const seen = await look();
        if (!("read" in seen)) return seen.failed;
        before = seen;
        remember(seen);
        // A look apart: 20 ms found no connection read 1 MiB at load 20
        // (the thread reads seldom below half of MAX_RSS_BYTES, so RSS can
        // pass it with no look made), and the process was killed.
        await new Promise((resolve) => setTimeout(resolve, orders.lookEveryMs));
      }
      const after = await look();
      if (!("read" in after)) return after.failed;
      remember(after);
      // A new stretch (the loop turned): what was read, the app may have
      // seen; this look is its first.
      if (!before || held && !surge && before.beatAt !== after.beatAt) {
        return "no look before in this stretch";
      }
      for (const [peer, read] of after.read) {
        roundReadBytes += Math.max(0, read - (before.read.get(peer) ?? 0));
      }
      const { named, swept: holding } = chooseAborts(
        { before: before.read, after: after.read, held },
        {
          ...orders,
          own: (peer) => orders.portOwned || own.has(ownKey(peer)),
          unseen: (peer) => {
            const key = ownKey(peer);
            // Not yet told of where every connection is its own: opened
            // since the main loop's last sample, nothing seen.
            return own.unseen(key) ??
              (orders.portOwned && !own.has(key) ? 0 : undefined);
          },
          // Since the stretch's first look, up to now (after the look).
          seenGrowth: (peer) => {
            const key = ownKey(peer);
            const now = own.seen(key) ?? 0;
            return Math.max(0, now - (before.seen.get(key) ?? 0));
          },
        },
      );
      // Nothing read from: the memory may be what Deno queued for clients
      // that do not read. Those go before the process would.
      let unread: string[] = [];
      if (named.length === 0 && holding.length === 0 && !held) {
        const queued = readSendQueues(after.text);
        unread = chooseUnread({
          before: readSendQueues(before.text),
          after: queued,
        }, orders);
        // Queues that filled since the look before (an echo written
        // between them): one look more tells a reader, drained by then.
        if (
          unread.length === 0 &&
          [...queued.values()].some((bytes) => bytes >= orders.unreadMinBytes)
        ) {
          await new Promise((resolve) =>
            setTimeout(resolve, orders.lookEveryMs)
          );
          const again = await look();
          if ("read" in again) {
            remember(again);
            unread = chooseUnread({
              before: queued,
              after: readSendQueues(again.text),
            }, orders);
          }
        }
      }
      if (named.length === 0 && holding.length === 0 && unread.length === 0) {
        // What the kernel showed, so that a death this leads to says where
        // the memory was not: the process's reads and the peers' queues.
        const MiB = 2 ** 20;
        const queues = [...readSendQueues(after.text).values()];
        const full = queues.filter((bytes) => bytes >= orders.unreadMinBytes);
        const sum = (bytes: number[]) =>
          (bytes.reduce((all, one) => all + one, 0) / MiB).toFixed(1);
        return `no connection was read from (${queues.length} connections, ` +
          `${sum([...after.read.values()])} MiB read in all, ${full.length} ` +
          `with Send-Q over ${orders.unreadMinBytes / 1024} KiB holding ${
            sum(full)
          } MiB)`;
      }
      // Aborting (`WatchdogOrders.ready`): until its message is posted, the
      // main loop leaves this held stretch to it.
      Atomics.store(shared, 2, 1);
      try {
        return await kill(named, holding, unread, rss, heldMs, kind, stretch);
      } finally {
        Atomics.store(shared, 2, 0);
      }
    };
    /** Tells the workers, aborts, and tells the main loop whom. */
    const kill = async (
      named: Array<{ peer: string; growth: number }>,
      holding: string[],
      unread: string[],
      rss: number,
      heldMs: number,
      kind: "memory" | "flood" | "surge",
      stretch: bigint,
    ) => {
      const split = (peer: string) => {
        const [hostname, port] = peer.split(" ");
        return { hostname: hostname!, port: Number(port) };
      };
      if (orders.suspectChannel !== "" && named.length > 0) {
        // Told before the abort (`WatchdogOrders.suspectChannel`).
        aborting ??= new BroadcastChannel(orders.suspectChannel);
        aborting.postMessage({
          kind: "aborting",
          at: Date.now(),
          addresses: [
            ...new Set(named.map(({ peer }) => split(peer).hostname)),
          ],
        });
      }
      let listed = "";
      const all = [...named.map(({ peer }) => peer), ...holding, ...unread];
      for (const filter of abortFilters(all, orders.port)) {
        const killed = await ss(["-K", "-tnH", "state", "established", filter]);
        if (!("stdout" in killed)) {
          if (listed === "") return killed.failed;
          break;
        }
        listed += killed.stdout.trim();
      }
      if (listed === "") return orders.goneFailure;
      Atomics.add(shared, 1, 1);
      const message: ThreadAbort = {
        cause: kind === "flood" ? "event_loop_stall" : "uncounted_memory",
        ...(kind === "surge" ? { rising: true } : {}),
        peers: named.map(({ peer }) => split(peer)),
        readBytes: named.map(({ growth }) => growth),
        ...(holding.length > 0 ? { swept: holding.map(split) } : {}),
        ...(unread.length > 0 ? { unread: unread.map(split) } : {}),
        rssBytes: rss,
        heldMs,
        heldSince: Number(stretch),
      };
      (globalThis as unknown as { postMessage(data: unknown): void })
        .postMessage(message);
      return undefined;
    };
    /** Why the process ends after all, for its last line. */
    const why = () =>
      abortable && !futile
        ? `${Atomics.load(shared, 1)} aborts did not free enough` +
          // A round that found nothing but kept the line (`givesUp`).
          (lastFailure ? ` (last round: ${lastFailure})` : "")
        : lastFailure || "none tried";
    // True once it has ended the process: it reads no more.
    let ended = false;
    // The first reading of this held stretch, for the pace RSS grows at.
    let since: { beatAt: bigint; at: number; rss: number } | undefined;
    // The readings of the last `lookEveryMs`, oldest first, for the pace
    // RSS rises at whatever the loop does: from the one before (a fast
    // surge) or from one up to that old (a slow thread under load).
    let recent: Array<{ rssBytes: number; at: number }> = [];
    // A surge lasts `lookEveryMs` past the last reading that rose fast:
    // between two attackers Deno's read paused ~70 ms (load 20).
    let surgeUntil = 0;
    /**
     * One round of the surge rule: the first look, or a look compared with
     * it and the abort of what it names; the next round at the next
     * reading, as long as RSS rises (which cannot last: at that pace it
     * reaches MAX_RSS_BYTES within `abortTakesMs`). A round that named
     * nobody waited 250 ms (`lookEveryMs`) before: Deno read the next
     * attacker meanwhile, 50 MiB at load 20.
     */
    const surgeRound = (rss: number, heldMs: number, stretch: bigint) =>
      abort(rss, heldMs, "surge", stretch).then((failed) => {
        if (failed !== undefined && PERMANENT.test(failed)) {
          lastFailure = failed;
          abortable = false;
        }
      });
    const sample = (rss: number) => {
      const now = clock();
      const beatAt = Atomics.load(beat, 0);
      const heldMs = Math.round(now - Number(beatAt));
      const latest = { rssBytes: rss, at: now };
      if (
        recent.some((before) =>
          rising({ before, now: latest }, {
            ...orders,
            actMs: orders.abortTakesMs,
          })
        )
      ) surgeUntil = now + orders.lookEveryMs;
      recent = recent.filter(({ at }) => now - at < orders.lookEveryMs);
      recent.push(latest);
      const surge = now < surgeUntil;
      if (heldMs < orders.lookHeldMs) {
        // The loop turned: a new stretch, looked at afresh.
        last = undefined;
        first = undefined;
        since = undefined;
        futile = false;
        // RSS rising too fast to wait for a held loop (`rising`).
        if (surge && abortable && !acting) {
          acting = true;
          surgeRound(rss, heldMs, beatAt).finally(() => acting = false);
        }
        return;
      }
      if (since?.beatAt !== beatAt) since = { beatAt, at: now, rss };
      const reading = {
        rssBytes: rss,
        heldMs,
        grownBytes: rss - since.rss,
        grownMs: now - since.at,
      };
      const killAt = abortable && !futile
        ? orders.killAtBytes
        : orders.capBytes;
      if (rss >= killAt && heldMs >= orders.heldMs) {
        ended = true;
        try {
          write(
            ([
              [orders.tokens.rss, String(rss)],
              [orders.tokens.held, String(heldMs)],
              [orders.tokens.abort, JSON.stringify(why())],
              [orders.tokens.time, JSON.stringify(new Date().toISOString())],
            ] as const).reduce(
              // A JSON line has the token as a string: the quotes go with it.
              (line, [token, value]) =>
                line.replace(`"${token}"`, value).replace(token, value),
              orders.line,
            ),
          );
        } catch {
          // The log's reader has gone: ending the process matters more.
        }
        try {
          Deno.kill(Deno.pid, "SIGKILL");
        } catch (error) {
          write(
            `{"event":"error","message":${JSON.stringify(String(error))}}`,
          );
        }
        return;
      }
      if (!abortable || acting) return;
      const flood = heldMs >= orders.floodHeldMs && now >= nextFloodAt &&
        (futile || rss < orders.abortAtBytes);
      const memory = !futile && rss >= orders.abortAtBytes &&
        now >= nextAbortAt &&
        heldLongEnough(reading, {
          ...orders,
          killAtBytes: killAt,
          actMs: orders.abortTakesMs,
        });
      // A look before a flood's abort, so that it needs only one more.
      const looking = !futile && rss >= orders.lookAtBytes ||
        heldMs >= orders.floodLookHeldMs;
      if (!flood && !memory && !surge && !looking) return;
      acting = true;
      const step = flood
        ? abort(rss, heldMs, "flood", beatAt).then((failed) => {
          // Looked at again at the next look: what each connection is read
          // adds up over the stretch; after an abort, the next connection
          // that holds the loop.
          nextFloodAt = clock() + orders.lookEveryMs;
          if (failed !== undefined && PERMANENT.test(failed)) {
            lastFailure = failed;
            abortable = false;
          }
        })
        : memory
        ? abort(rss, heldMs, "memory", beatAt).then((failed) => {
          // Deno frees an aborted connection's fragments only once the loop
          // turns, and the next attacker's read holds it: the next round
          // comes at the next look, to take that one too.
          // One before HELD_MS (fast growth) that found nothing is tried
          // again at the next look and does not lower the kill line: only
          // a hold as long as before may end the process sooner. Nor does
          // one whose `ss` ran out of time (at load 40-49, flakes, stop
          // 37): it found nothing out. Nor one whose connections had gone
          // by its `ss -K` (`goneFailure`): it found some.
          const early = heldMs < orders.heldMs || ssTimedOut ||
            failed === orders.goneFailure;
          nextAbortAt = clock() +
            (failed === undefined || early
              ? orders.lookEveryMs
              : orders.heldMs);
          if (failed === undefined) return;
          lastFailure = failed;
          // Ending the process is all that is left, at capBytes.
          if (PERMANENT.test(failed)) abortable = false;
          else if (
            givesUp({
              early,
              seenBytes: first ? own.told() - first.told : 0,
              // During the round: its looks are LOOK_EVERY_MS apart.
              grownBytes: Deno.memoryUsage().rss - rss,
              readBytes: roundReadBytes,
            }, orders)
          ) futile = true;
        })
        : surge
        ? surgeRound(rss, heldMs, beatAt)
        : (!last || now - last.at >= orders.lookEveryMs ||
            last.beatAt !== Atomics.load(beat, 0))
        ? look().then((seen) => {
          if ("read" in seen) remember(seen);
        })
        : Promise.resolve();
      step.finally(() => acting = false);
    };
    let next: ReturnType<typeof setTimeout> | undefined;
    const read = () => {
      next = undefined;
      const rss = Deno.memoryUsage().rss;
      sample(rss);
      if (ended) return;
      const heldMs = clock() - Number(Atomics.load(beat, 0));
      const busy = Atomics.load(beat, 1) === 1n;
      next = setTimeout(
        read,
        readDelay({ rssBytes: rss, heldMs, busy }, orders),
      );
    };
    wake = () => {
      if (next === undefined) return;
      clearTimeout(next);
      read();
    };
    next = setTimeout(read, orders.everyMs);
  });
}
