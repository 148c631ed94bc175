/**
 * What the stretch between two samples of the process shows, with no I/O:
 * RSS growth nobody accounts for, whether messages, bytes or requests
 * flowed at the rates of real work, and whether a late or busy loop was
 * the process's own doing. The detectors (`overload_signals.ts`) judge
 * windows of samples with these. Split from `overload_signals.ts`.
 *
 * @module
 */

/** One sample of the process. */
export interface Sample {
  /** `performance.now()` when taken, in ms. */
  at: number;
  /** Resident set size, in bytes. */
  rssBytes: number;
  /** Bytes the connections account for (the memory guard's total). */
  usedBytes: number;
  /** How late this sample's timer fired, in ms. */
  delayMs: number;
  /** Messages received since start-up. */
  messagesIn: number;
  /**
   * Connections opened plus connections closed since start-up: each one's
   * own memory (Deno's buffers, the handshake's and the close's garbage) is
   * counted by no guard.
   */
  connectionChanges?: number;
  /** HTTP requests received since start-up, upgrades included. */
  requests?: number;
  /**
   * Of `requests`, the plain ones the app answered (no upgrades); undefined:
   * none.
   */
  plainRequests?: number;
  /** Payload bytes received since start-up. */
  bytesIn: number;
  /** Messages sent since start-up (echoes, `/stream`, rooms). */
  messagesOut?: number;
  /** Payload bytes sent since start-up. */
  bytesOut?: number;
  /** CPU time the process has used since start-up (user + system), in ms. */
  cpuMs?: number;
  /**
   * The share of one core this process can expect on this machine now
   * (cores / load average, at most 1); undefined when unknown.
   */
  fairShare?: number | undefined;
  /**
   * Payload bytes received and sent since start-up by every worker of the
   * process (`deno serve --parallel`: RSS is the process's); undefined:
   * `bytesIn` + `bytesOut`, this worker's.
   */
  movedBytes?: number;
}

/**
 * RSS each connection opened or closed within the window explains, in
 * bytes. An idle WebSocket costs the process about 21 KiB (10,000 opened
 * from one address grew RSS by 210 MiB with nothing counted, and the watch
 * recycled: `deno task bench`'s idle scenario, quiet machine), of which a
 * bare Deno echo keeps 14 KiB outside the V8 heap (5,000 connections: RSS
 * +113 MiB, heapTotal +43 MiB); closing them leaves garbage too (the same
 * run's next round recycled while 10,000 closed). So an attacker hiding an
 * endless fragmented message (150-400 MiB/s) behind churn would need
 * thousands of handshakes a second.
 */
export const CONNECTION_BYTES = 32 * 1024;
/**
 * Messages per second at or above which the loop's delay is taken for real
 * work (which the rate limits govern), not for a flood of frames the app
 * never sees.
 */
export const FLOWING_MESSAGES_PER_SECOND = 200;
/**
 * Requests per second at or above which the delay is taken for work too:
 * plain requests the app answered, and upgrades only where the kernel's
 * count cannot be read ({@link flowing}'s `upgrades`).
 *
 * An upgrade brings no message, so it does not show the app serving, and a
 * flood split across fresh connections upgrades all the time: 60-140
 * upgrades a second, each bringing 1.5 MiB of empty frames, kept the
 * process at a full core with its timers at most 80 ms late, and as flow
 * they hid it from the busy rule for as long as it lasted (load average 4;
 * under load fewer got through and it tripped: the trigger depended on the
 * machine, issue #20). A burst of honest upgrades that holds the loop is
 * then a stall like a flood, which the kernel's count keeps reported (it
 * finds nothing they brought unseen, `incident_suspects.ts` `notAFlood`:
 * 1,280 non-readers ramped over 1 s, `deno run -A bench/burst_bystander.ts
 * --busy`, 3 runs: 3 stalls reported, no recycle, load average 12-19).
 * Without the count the timing rule would recycle for it (2 of 2 runs) and
 * a split flood cannot be attributed anyway, so there upgrades still count:
 * a ramp of new connections on a busy machine made the loop as late as a
 * flood (bench --scale at load average 30).
 */
export const FLOWING_REQUESTS_PER_SECOND = 10;
/** Bytes per second (received plus sent) at or above which messages flow, likewise. */
export const FLOWING_BYTES_PER_SECOND = 1024 * 1024;
/**
 * When a late or busy loop is the process's own doing: over the stretch,
 * the process used at least `floor` of a core and at least
 * `ofFairShare` of its fair share of one ({@link Sample.fairShare}; the
 * floor alone where the load average cannot be read). A flood burns the
 * CPU the process can get while it holds the loop: 60-98% of a core on a
 * quiet machine, 10-17% at load average 15, 4-9% at 30-36 (a fair share of
 * 6%). Machine load alone makes an idle process's timers late too (1% of a
 * core, timers over 300 ms late at load average 35: it recycled everyone),
 * and a process its host paused (SIGSTOP, a VM's steal) used nothing at
 * all (every client closed at `cpu_percent=0`, attack review `hiccup.ts`).
 */
export const OWN_CPU = { floor: 0.02, ofFairShare: 0.4 } as const;

/**
 * True when the process used its share of a core between `before` and
 * `after` ({@link OWN_CPU}), or when either CPU time is unknown.
 */
export function ownDoing(before: Sample, after: Sample): boolean {
  if (
    before.cpuMs === undefined || after.cpuMs === undefined ||
    after.at <= before.at
  ) return true;
  const share = (after.cpuMs - before.cpuMs) / (after.at - before.at);
  return share >= Math.max(
    OWN_CPU.floor,
    OWN_CPU.ofFairShare * (after.fairShare ?? 0),
  );
}

/**
 * How much RSS grew from `first` to `sample` beyond the bytes the
 * connections account for, the payload moved and the connections opened
 * and closed ({@link CONNECTION_BYTES} each).
 */
export function uncountedGrowth(first: Sample, sample: Sample): number {
  return (sample.rssBytes - first.rssBytes) -
    Math.max(0, sample.usedBytes - first.usedBytes) -
    Math.max(0, moved(sample) - moved(first)) -
    ((sample.connectionChanges ?? 0) - (first.connectionChanges ?? 0)) *
      CONNECTION_BYTES;
}

/** Payload bytes received and sent since start-up (see {@link Sample.movedBytes}). */
export function moved(sample: Sample): number {
  return sample.movedBytes ?? sample.bytesIn + (sample.bytesOut ?? 0);
}

/**
 * True when messages, bytes or requests flowed between `before` and
 * `after` at the rates that mark real work (which the rate limits govern):
 * plain requests, and upgrades too when `upgrades` is true (where the
 * kernel's count cannot be read, {@link FLOWING_REQUESTS_PER_SECOND}).
 */
export function flowing(
  before: Sample,
  after: Sample,
  upgrades = false,
): boolean {
  const seconds = (after.at - before.at) / 1000;
  const messages = after.messagesIn - before.messagesIn +
    (after.messagesOut ?? 0) - (before.messagesOut ?? 0);
  const bytes = after.bytesIn - before.bytesIn +
    (after.bytesOut ?? 0) - (before.bytesOut ?? 0);
  const requests = upgrades
    ? (after.requests ?? 0) - (before.requests ?? 0)
    : (after.plainRequests ?? 0) - (before.plainRequests ?? 0);
  return messages >= FLOWING_MESSAGES_PER_SECOND * seconds ||
    requests >= FLOWING_REQUESTS_PER_SECOND * seconds ||
    bytes >= FLOWING_BYTES_PER_SECOND * seconds;
}
