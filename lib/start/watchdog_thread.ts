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
 * 1. Past {@link WatchdogOrders.abortAtBytes} (MAX_RSS_BYTES), where the
 *    kernel may destroy sockets (`ss -K`, CAP_NET_ADMIN), it aborts the
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
 *    connections (those the main loop told it of, {@link WatchdogPeers})
 *    read from by more than {@link WatchdogOrders.floodMinReadBytes}
 *    (MAX_MESSAGE_BYTES plus slack) since its first look of this held
 *    stretch (it looks from {@link WatchdogOrders.floodLookHeldMs}): Deno
 *    answering a flood of frames it handles itself (pongs, empty
 *    continuations) inside its read ops, which do not return while more
 *    keep coming (stranger8 F7: a worker held 13.5 s, the flooders gone
 *    before it turned). While the loop is held no message reaches the app,
 *    and Deno reads an honest client's next message only once the app has
 *    taken the one before, so no honest client is read that much in one
 *    stretch. Another worker's connections (`deno serve --parallel`: `ss`
 *    lists the whole port) are never taken: that worker's thread sees to
 *    them.
 * 3. Past MAX_RSS_BYTES with the loop held, in the same round as 1, it
 *    applies the main loop's sweep (`abortHolding`, `incident_aborts.ts`)
 *    to this process's own connections: it aborts each the process read
 *    more than {@link WatchdogOrders.holdingBytes} from beyond what the
 *    app saw, with no complete message from it yet (the main loop tells
 *    it, {@link WatchdogPeers.seen}). An endless message split over 400
 *    connections at 512 KiB/s each (stranger10 F2) reads none of them
 *    1 MiB between two looks, and the held loop cannot run the sweep
 *    itself: the process was killed ("no connection was read from").
 *    A client that sent a complete message is never among them; these
 *    are aborted, not struck ({@link ThreadAbort.swept}), but for those
 *    holding more than {@link WatchdogOrders.floodMinReadBytes} unseen
 *    (more than any message this service takes, none complete: no honest
 *    client), named in {@link ThreadAbort.peers} and struck (an attacker
 *    taken only by the sweep was never refused on its third try).
 * 4. Past {@link WatchdogOrders.killAtBytes}, or past
 *    {@link WatchdogOrders.capBytes} once it is known that it cannot abort
 *    (no listener port, `ss` cannot run, the kernel refused, nothing found
 *    to abort), it writes one log line and ends the process with SIGKILL
 *    (a supervisor brings it back).
 *
 * `ss` output is read by `ssSockets` (`socket_bytes.ts`, given to the thread
 * as text too) and checked here with integer checks, not zod: the thread
 * runs from source text and can import nothing.
 *
 * @module
 */

/** What the thread is told when it starts. */
export interface WatchdogOrders {
  /** The watch's last sample, ms since the epoch, in a shared BigInt64Array. */
  beat: SharedArrayBuffer;
  /**
   * RSS at which it ends the process once it cannot abort, in bytes:
   * MAX_RSS_BYTES plus `RSS_MARGIN_SHARE` (`rss_watchdog.ts`).
   */
  capBytes: number;
  /** RSS at which it aborts connections, in bytes: MAX_RSS_BYTES. */
  abortAtBytes: number;
  /**
   * RSS at which it ends the process even where it may abort, in bytes:
   * MAX_RSS_BYTES plus `ABORT_KILL_MARGIN_SHARE` (`rss_watchdog.ts`).
   */
  killAtBytes: number;
  /** RSS from which it looks, in bytes (`LOOK_AT_SHARE`, `rss_watchdog.ts`). */
  lookAtBytes: number;
  /** See `LOOK_HELD_MS` (`rss_watchdog.ts`). */
  lookHeldMs: number;
  /** See `LOOK_EVERY_MS` (`rss_watchdog.ts`). */
  lookEveryMs: number;
  /** See `LOOK_FRESH_MS` (`rss_watchdog.ts`). */
  lookFreshMs: number;
  /** See `ABORT_MIN_READ_BYTES` (`rss_watchdog.ts`). */
  abortMinReadBytes: number;
  /** See `FLOOD_HELD_MS` (`rss_watchdog.ts`). */
  floodHeldMs: number;
  /** See `FLOOD_LOOK_HELD_MS` (`rss_watchdog.ts`). */
  floodLookHeldMs: number;
  /**
   * How much the process must have read from one of its connections
   * within one held stretch to be aborted on a held loop alone, in bytes:
   * MAX_MESSAGE_BYTES plus `FLOOD_SLACK_BYTES` (`rss_watchdog.ts`).
   */
  floodMinReadBytes: number;
  /**
   * How much more than the app saw the process may have read from one of
   * its connections with no complete message before the sweep of 3 takes
   * it, in bytes: `SPLIT_CONNECTION_BYTES` (`overload_attribution.ts`),
   * the main loop's sweep's line.
   */
  holdingBytes: number;
  /** See `THREAD_SS_TIMEOUT_MS` (`rss_watchdog.ts`). */
  ssTimeoutMs: number;
  /** See `THREAD_SS_FAILED` (`rss_watchdog.ts`): a RegExp source. */
  ssFailed: string;
  /** See `THREAD_SS_FOR_GOOD` (`rss_watchdog.ts`): a RegExp source. */
  ssFailedForGood: string;
  /** The listener's port; 0 when unknown: then it never aborts. */
  port: number;
  /** See `HELD_MS` (`rss_watchdog.ts`). */
  heldMs: number;
  /** See `WATCHDOG_SAMPLE_MS` (`rss_watchdog.ts`). */
  everyMs: number;
  /** See `WATCHDOG_QUIET_MS` (`rss_watchdog.ts`). */
  quietEveryMs: number;
  /** See `RSS_GROWTH_BYTES_PER_SECOND` (`rss_watchdog.ts`). */
  growthBytesPerSecond: number;
  /**
   * Two shared Int32s: the thread sets the first to 1 (and notifies) once
   * it runs, and adds 1 to the second at each abort.
   */
  ready: SharedArrayBuffer;
  /**
   * The log line to write before ending it, formatted as the service's log
   * (LOG_FORMAT) with {@link WatchdogOrders.tokens} in place of the values
   * known only then.
   */
  line: string;
  /**
   * What stands in `line` for the RSS, how long the loop was held, why it
   * did not abort, and (in JSON) the time: `RSS_TOKEN`, `HELD_TOKEN`,
   * `ABORT_TOKEN`, `TIME_TOKEN` (`rss_watchdog.ts`).
   */
  tokens: { rss: string; held: string; abort: string; time: string };
}

/**
 * What the main loop tells the thread after its orders, as connections
 * open and close: their peers as `peerKey` (`socket_bytes.ts`) makes them
 * (`127.0.0.2:40000`, `::1:40001`); `closed` are forgotten before
 * `opened` are added (a port closed and reused within one update). Only
 * these may be aborted on a held loop alone.
 */
export interface WatchdogPeers {
  opened: string[];
  closed: string[];
  /**
   * Own connections whose app-seen payload changed since the update
   * before, after `opened`: `[peer, bytes the app saw, whether a complete
   * message came]`. One opened counts none seen and none complete until
   * told; one complete is never swept. @default none
   */
  seen?: Array<[peer: string, bytes: number, complete: boolean]>;
}

/** What the thread tells the main loop after it aborted connections. */
export interface ThreadAbort {
  /**
   * Why: RSS past MAX_RSS_BYTES with the loop held (`uncounted_memory`),
   * or the loop held {@link WatchdogOrders.floodHeldMs} whatever the RSS
   * (`event_loop_stall`).
   */
  cause: "uncounted_memory" | "event_loop_stall";
  /** The connections' peers, as the kernel lists them. */
  peers: Array<{ hostname: string; port: number }>;
  /**
   * Bytes the process read from each (same order) since the look it was
   * compared with: the look before, or on a held loop alone the first look
   * of the hold; for one the sweep named (3 of the module's doc), what it
   * read beyond what the app saw.
   */
  readBytes: number[];
  /**
   * This process's connections aborted by the sweep (3 of the module's
   * doc) and not read from as `peers` were: holding unseen bytes with no
   * complete message. Not struck: one may be an honest client's first
   * message in flight (`abortHolding`, `incident_aborts.ts`).
   * @default none
   */
  swept?: Array<{ hostname: string; port: number }>;
  /** RSS when it decided, in bytes. */
  rssBytes: number;
  /** How long the main loop had gone without a sample then, in ms. */
  heldMs: number;
}

/**
 * The thread's code. Self-contained: it runs from its own source text
 * (`Function.prototype.toString`), so it may use no import or outer name;
 * `readPeers` and `readDelayMs` (`watchdog_readings.ts`) and `peerKey`
 * (`socket_bytes.ts`, the main loop's name for a peer, so the two cannot
 * drift: review stop35 F-D) are given to it the same way.
 */
export function watchdogThread(
  readPeers: (text: string) => Map<string, number>,
  readDelay: (rssBytes: number, orders: WatchdogOrders) => number,
  peerKey: (hostname: string, port: number) => string,
): void {
  // The connections of this process: the main loop's word, after the orders.
  const own = new Set<string>();
  // Of those, the ones with no complete message yet: the bytes the app saw.
  const unseen = new Map<string, number>();
  let started = false;
  globalThis.addEventListener("message", (event: Event) => {
    if (started) {
      const { opened, closed, seen = [] } =
        (event as MessageEvent<WatchdogPeers>).data;
      for (const peer of closed) {
        own.delete(peer);
        unseen.delete(peer);
      }
      for (const peer of opened) {
        own.add(peer);
        unseen.set(peer, 0);
      }
      for (const [peer, bytes, complete] of seen) {
        if (complete) unseen.delete(peer);
        else if (own.has(peer)) unseen.set(peer, bytes);
      }
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
    /** Runs `ss` with a deadline: its stdout, or undefined with a reason. */
    const ss = async (args: string[]) => {
      try {
        const output = await new Deno.Command("ss", {
          args,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(orders.ssTimeoutMs),
        }).output();
        const stderr = decoder.decode(output.stderr);
        // No netlink: `ss` reads /proc (no counts) and -K destroys nothing.
        if (!output.success || ssFailed.test(stderr)) {
          return { failed: stderr.trim().slice(0, 200) || "ss failed" };
        }
        return { stdout: decoder.decode(output.stdout) };
      } catch (error) {
        return { failed: String(error).slice(0, 200) };
      }
    };
    /**
     * Bytes read per peer (`host port`): bytes_received minus Recv-Q, with
     * the watch's last sample before the look (it changes when the loop
     * turns).
     */
    const look = async () => {
      const beatAt = Atomics.load(beat, 0);
      const listed = await ss([
        "-tinH",
        "state",
        "established",
        `( sport = :${orders.port} )`,
      ]);
      if (!("stdout" in listed)) return listed;
      return { at: clock(), beatAt, read: readPeers(listed.stdout) };
    };
    type Look = { at: number; beatAt: bigint; read: Map<string, number> };
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
     * this held stretch (the loop has not turned since).
     */
    const abort = async (rss: number, heldMs: number, held: boolean) => {
      let before = held ? first : last;
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
      if (!before || held && before.beatAt !== after.beatAt) {
        return "no look before in this stretch";
      }
      const least = held ? orders.floodMinReadBytes : orders.abortMinReadBytes;
      const grown = [...after.read]
        .filter(([peer]) => !held || own.has(ownKey(peer)))
        .map(([peer, read]) => ({
          peer,
          growth: read - (before.read.get(peer) ?? 0),
        }))
        .filter(({ growth }) => growth >= least)
        .sort((a, b) => b.growth - a.growth);
      const named = new Set(grown.map(({ peer }) => peer));
      // The sweep (3): own connections holding unseen bytes, no message.
      const holders = held ? [] : [...after.read]
        .map(([peer, read]) => {
          const seen = unseen.get(ownKey(peer));
          return { peer, growth: seen === undefined ? 0 : read - seen };
        })
        .filter(({ peer, growth }) =>
          !named.has(peer) && growth > orders.holdingBytes
        );
      // More unseen than any message this service takes, with none
      // complete: no honest client holds that, so it is named (struck)
      // with the ones read from; the rest are only swept.
      const over = holders.filter(({ growth }) =>
        growth > orders.floodMinReadBytes
      );
      grown.push(...over);
      const holding = holders
        .filter(({ growth }) => growth <= orders.floodMinReadBytes)
        .map(({ peer }) => peer);
      if (grown.length === 0 && holding.length === 0) {
        return "no connection was read from";
      }
      const split = (peer: string) => {
        const [hostname, port] = peer.split(" ");
        return { hostname: hostname!, port: Number(port) };
      };
      const peers = grown.map(({ peer }) => split(peer));
      const swept = holding.map(split);
      const each = [...peers, ...swept].map(({ hostname, port }) =>
        `dst ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
      );
      // At most 256 a call, as `socket_abort.ts`: the filter is one argument.
      let listed = "";
      for (let at = 0; at < each.length; at += 256) {
        const killed = await ss([
          "-K",
          "-tnH",
          "state",
          "established",
          `( sport = :${orders.port} ) and ( ${
            each.slice(at, at + 256).join(" or ")
          } )`,
        ]);
        if (!("stdout" in killed)) {
          if (listed === "") return killed.failed;
          break;
        }
        listed += killed.stdout.trim();
      }
      if (listed === "") return "the kernel aborted none";
      Atomics.add(shared, 1, 1);
      const message: ThreadAbort = {
        cause: held ? "event_loop_stall" : "uncounted_memory",
        peers,
        readBytes: grown.map(({ growth }) => growth),
        ...(swept.length > 0 ? { swept } : {}),
        rssBytes: rss,
        heldMs,
      };
      (globalThis as unknown as { postMessage(data: unknown): void })
        .postMessage(message);
      return undefined;
    };
    /** Why the process ends after all, for its last line. */
    const why = () =>
      abortable && !futile
        ? `${Atomics.load(shared, 1)} aborts did not free enough`
        : lastFailure || "none tried";
    // True once it has ended the process: it reads no more.
    let ended = false;
    const sample = (rss: number) => {
      const now = clock();
      const heldMs = Math.round(now - Number(Atomics.load(beat, 0)));
      if (heldMs < orders.lookHeldMs) {
        // The loop turned: a new stretch, looked at afresh.
        last = undefined;
        first = undefined;
        futile = false;
        return;
      }
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
        heldMs >= orders.heldMs && now >= nextAbortAt;
      // A look before a flood's abort, so that it needs only one more.
      const looking = !futile && rss >= orders.lookAtBytes ||
        heldMs >= orders.floodLookHeldMs;
      if (!flood && !memory && !looking) return;
      acting = true;
      const step = flood
        ? abort(rss, heldMs, true).then((failed) => {
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
        ? abort(rss, heldMs, false).then((failed) => {
          // Deno frees an aborted connection's fragments only once the loop
          // turns, and the next attacker's read holds it: the next round
          // comes at the next look, to take that one too.
          nextAbortAt = clock() +
            (failed === undefined ? orders.lookEveryMs : orders.heldMs);
          if (failed === undefined) return;
          lastFailure = failed;
          // Ending the process is all that is left, at capBytes.
          if (PERMANENT.test(failed)) abortable = false;
          else futile = true;
        })
        : (!last || now - last.at >= orders.lookEveryMs ||
            last.beatAt !== Atomics.load(beat, 0))
        ? look().then((seen) => {
          if ("read" in seen) remember(seen);
        })
        : Promise.resolve();
      step.finally(() => acting = false);
    };
    const read = () => {
      const rss = Deno.memoryUsage().rss;
      sample(rss);
      if (ended) return;
      // While the loop is held, as often as past half of MAX_RSS_BYTES.
      const held = clock() - Number(Atomics.load(beat, 0)) >= orders.lookHeldMs;
      setTimeout(read, held ? orders.everyMs : readDelay(rss, orders));
    };
    setTimeout(read, orders.everyMs);
  });
}
