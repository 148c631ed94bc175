/**
 * What passes between the main loop and the RSS watchdog thread
 * (`watchdog_thread.ts`, started by `rss_watchdog.ts`): the orders it is
 * given once ({@link WatchdogOrders}), the connections it is told of as they
 * open, close and are seen ({@link WatchdogPeers}), and each abort it tells
 * back ({@link ThreadAbort}). Types only: the thread runs from source text
 * and checks nothing it is told but by these shapes. Split from
 * `watchdog_thread.ts`.
 *
 * @module
 */

/** What the thread is told when it starts. */
export interface WatchdogOrders {
  /**
   * The watch's last sample, ms since the epoch, then 1 while the watch is
   * busy (else 0): a shared BigInt64Array of two.
   */
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
  /** See `UNREAD_MIN_BYTES` (`rss_watchdog.ts`). */
  unreadMinBytes: number;
  /** See `THREAD_SS_TIMEOUT_MS` (`rss_watchdog.ts`). */
  ssTimeoutMs: number;
  /** See `THREAD_SS_FAILED` (`rss_watchdog.ts`): a RegExp source. */
  ssFailed: string;
  /** See `THREAD_SS_FOR_GOOD` (`rss_watchdog.ts`): a RegExp source. */
  ssFailedForGood: string;
  /** The listener's port; 0 when unknown: then it never aborts. */
  port: number;
  /**
   * Whether the process alone owns the listener (`deno task start`): every
   * connection of the port is its own, and the main loop tells opens and
   * closes only at its samples (`own_peers.ts`), so one not yet told of
   * is taken as opened with nothing seen. False under `deno serve
   * --parallel`, where `ss` lists every worker's: only those told of.
   */
  portOwned: boolean;
  /** See `HELD_MS` (`rss_watchdog.ts`). */
  heldMs: number;
  /** See `ABORT_TAKES_MS` (`rss_watchdog.ts`). */
  abortTakesMs: number;
  /**
   * How much RSS may grow within one held stretch without the thread
   * acting before {@link WatchdogOrders.heldMs}, in bytes: twice
   * {@link WatchdogOrders.floodMinReadBytes}, what one honest message may
   * bring (Deno's buffer for it may double as it grows), as the memory
   * budget counts Deno's read buffers.
   */
  honestGrowthBytes: number;
  /** See `WATCHDOG_SAMPLE_MS` (`rss_watchdog.ts`). */
  everyMs: number;
  /** See `WATCHDOG_QUIET_MS` (`rss_watchdog.ts`). */
  quietEveryMs: number;
  /** See `RSS_GROWTH_BYTES_PER_SECOND` (`rss_watchdog.ts`). */
  growthBytesPerSecond: number;
  /** See `RSS_SURGE_BYTES_PER_SECOND` (`rss_watchdog.ts`). */
  surgeBytesPerSecond: number;
  /**
   * Three shared Int32s: the thread sets the first to 1 (and notifies) once
   * it runs, adds 1 to the second at each abort (before its
   * {@link ThreadAbort} message), and holds the third at 1 from the moment
   * it decides to abort until that message is posted or the abort failed:
   * the main loop, turning meanwhile, leaves that held stretch to it (one
   * held stretch, one incident: `IncidentActions`).
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
  /**
   * The channel every `deno serve` worker's suspect list hears
   * (`suspect_peers.ts`), "" for none: before it aborts the connections it
   * names, the thread posts their addresses there (`ThreadAborting`), so
   * that every worker refuses a client those strikes will list before the
   * client, cut, reconnects; the main loop, held, strikes only once it
   * turns (a pong flooder's third try got 101 from the other worker).
   */
  suspectChannel: string;
  /**
   * The failure of an abort whose connections the kernel no longer had at
   * its `ss -K` ({@link THREAD_GONE_FAILURE}): it found some, so it is tried
   * again at the next look and does not lower the kill line (`givesUp`):
   * under `deno task serve` a held worker's thread took it for "nothing
   * found" and killed the process at plus 25% (issue #20).
   */
  goneFailure: string;
}

/** {@link WatchdogOrders.goneFailure}. */
export const THREAD_GONE_FAILURE = "the kernel aborted none";

/**
 * What the main loop tells the thread after its orders, as connections
 * open and close (by the end of their turn; with
 * {@link WatchdogOrders.portOwned} at its next sample): their peers as
 * `peerKey` (`socket_bytes.ts`) makes them (`127.0.0.2:40000`,
 * `::1:40001`); `closed` are forgotten before `opened` are added (a port
 * closed and reused within one update). Only these may be aborted on a
 * held loop alone, but for {@link WatchdogOrders.portOwned}.
 */
export interface WatchdogPeers {
  opened: string[];
  closed: string[];
  /**
   * Own connections whose app-seen payload changed since the update
   * before, after `opened`: `[peer, bytes the app saw, whether a complete
   * message came]`: at the main loop's samples those with no complete
   * message yet, and by the end of the turn any whose payload seen grew
   * 32 KiB since last told (`SEEN_TELL_BYTES`, `traffic.ts`), for the flood
   * rule. One opened counts none seen and none complete until told; one
   * complete is never swept. @default none
   */
  seen?: Array<[peer: string, bytes: number, complete: boolean]>;
}

/**
 * What the main loop tells the thread when a connection opens while the
 * watch was quiet (`RssWatchdog.busy`, `rss_watchdog.ts`): read RSS now,
 * and from then on as often as `WatchdogOrders.surgeBytesPerSecond` needs.
 * Its quiet schedule allows for one attacker (400 MiB/s) up to half of
 * MAX_RSS_BYTES; four that connect at once, on a quiet machine, bring
 * four times that before a reading comes (issue #20).
 */
export interface WatchdogWake {
  wake: true;
}

/** What the thread tells the main loop after it aborted connections. */
export interface ThreadAbort {
  /**
   * Why: RSS past MAX_RSS_BYTES with the loop held (`uncounted_memory`),
   * or the loop held {@link WatchdogOrders.floodHeldMs} whatever the RSS
   * (`event_loop_stall`).
   */
  cause: "uncounted_memory" | "event_loop_stall";
  /**
   * Set where RSS was rising too fast to wait for a held loop (`rising`,
   * `watchdog_rules.ts`): the connections named were each read more than
   * one message beyond the payload the app saw since the surge's first
   * look, whether the loop turned or not; RSS may be under MAX_RSS_BYTES.
   * @default none
   */
  rising?: true;
  /** The connections' peers, as the kernel lists them. */
  peers: Array<{ hostname: string; port: number }>;
  /**
   * Bytes the process read from each (same order) since the look it was
   * compared with: the look before, or on a held loop alone the first look
   * of the hold, beyond the payload the app saw meanwhile; for one the
   * sweep named (3 of the module's doc), what it read beyond what the app
   * saw.
   */
  readBytes: number[];
  /**
   * This process's connections aborted by the sweep (3 of the module's
   * doc) and not read from as `peers` were: holding unseen bytes with no
   * complete message. Not struck, as one may be an honest client's first
   * message in flight (`abortHolding`, `incident_aborts.ts`), unless its
   * address was struck before (`sweptAgain`, `thread_aborts.ts`).
   * @default none
   */
  swept?: Array<{ hostname: string; port: number }>;
  /**
   * The listener's connections (any worker's) aborted because they do not read what it
   * sends (`chooseUnread`, `watchdog_rules.ts`), when past MAX_RSS_BYTES
   * with the loop held nothing was read from: the alternative was ending
   * the process. Not struck: a reader on a stalled link looks the same.
   * @default none
   */
  unread?: Array<{ hostname: string; port: number }>;
  /** RSS when it decided, in bytes. */
  rssBytes: number;
  /** How long the main loop had gone without a sample then, in ms. */
  heldMs: number;
  /**
   * When that held stretch began: the watch's last sample before it (the
   * beat, ms since epoch). A strike this worker made since is of this
   * stretch (`same_try.ts` `StrikeOptions.heldSince`); one made before is
   * of an earlier try, however recent (a quiet machine's attacker is back
   * 0.5-0.9 s after its cut, issue #20).
   */
  heldSince: number;
}
