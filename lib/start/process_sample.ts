/**
 * One sample of the process for the overload watch: RSS, CPU and the
 * machine's fair share as read now, beside the counters the connections
 * keep. Split from `overload_watch.ts`; what samples show is judged in
 * `overload_sample.ts` and `overload_signals.ts`.
 *
 * @module
 */
import type { Services } from "../services.ts";
import type { Sample } from "./overload_sample.ts";

/** How the process is read (real ones in the service, fakes in tests). */
export interface ProcessReaders {
  /** Resident set size, in bytes; 0 when the read failed. */
  readRss: () => number;
  /** CPU time used since start-up, in ms. */
  readCpuMs: () => number;
  /** The share of one core this process can expect now, if known. */
  readFairShare: () => number | undefined;
}

/**
 * Takes one sample at `at` (`performance.now()`), whose timer fired
 * `delayMs` late; a failed RSS read (no descriptor left) keeps `last`'s.
 */
export function takeSample(
  services: Pick<Services, "metrics" | "memory">,
  readers: ProcessReaders,
  moment: { at: number; delayMs: number; last: Sample | undefined },
): Sample {
  const { metrics, memory } = services;
  // Every worker's: RSS is the process's (`deno serve --parallel`).
  const counted = memory.processCounted(metrics.bytesIn + metrics.bytesOut);
  return {
    at: moment.at,
    rssBytes: readers.readRss() || (moment.last?.rssBytes ?? 0),
    usedBytes: counted.used,
    movedBytes: counted.moved,
    delayMs: moment.delayMs,
    messagesIn: metrics.messagesIn,
    connectionChanges: 2 * metrics.connectionsTotal - metrics.connectionsOpen,
    requests: metrics.httpRequests,
    plainRequests: metrics.plainRequests,
    bytesIn: metrics.bytesIn,
    // `/sse` events are messages out too.
    messagesOut: metrics.messagesOut + metrics.streamEventsOut,
    bytesOut: metrics.bytesOut,
    cpuMs: readers.readCpuMs(),
    fairShare: readers.readFairShare(),
  };
}
