/**
 * The log lines of refusals, collapsed. A refusal costs the service little
 * (no route, a short body), so a stranger can ask for thousands a second:
 * with one line each, one address past its request rate wrote 9,936 lines
 * a second (`deno run -A bench/request_flood.ts`), the log's disk and
 * collector paying for it. Here the first refusal of an address for a
 * reason is logged at once, as before; the ones after it are counted, and
 * once a second one line says how many there were (`repeated=9935
 * interval_ms=1000`). An address refused no more for a whole second is
 * forgotten, so its next refusal is logged at once again.
 *
 * The table is bounded: past {@link MAX_REFUSING_ADDRESSES} addresses, the
 * refusals of addresses not in it are only counted, one line a second per
 * reason (`from="untracked addresses"`). So refusals write at most about two
 * lines a second per tracked address and reason, whatever the rate.
 * `/metrics` still counts every refusal.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";
import type { Log, LogRecord } from "../log.ts";

/** How often the counts are logged, in ms. */
export const REFUSAL_LOG_INTERVAL_MS = 1000;

/**
 * Address and reason pairs tracked at most: a few hundred KiB, and each can
 * write two lines a second.
 */
export const MAX_REFUSING_ADDRESSES = 1000;

/** One refusal's log record: `ws_refused`, `sse_refused` or `http_refused`. */
export interface RefusalRecord extends LogRecord {
  /** The client IP as the limits see it, when known. */
  ip?: string | undefined;
  /** The refusal's reason (a token of `lib/refusals.ts`). */
  reason: string;
  path: string;
  /** The `Origin` header, for origin refusals. */
  origin?: string | undefined;
}

/** Options for {@link RefusalLog}. */
export interface RefusalLogOptions {
  /** @default REFUSAL_LOG_INTERVAL_MS */
  intervalMs?: number;
  /** @default MAX_REFUSING_ADDRESSES */
  maxAddresses?: number;
  /** The clock, ms. @default Date.now */
  now?: () => number;
}

/** Refusals counted since the last line for one key. */
interface Repeats {
  /** The first counted refusal; undefined while none is counted. */
  sample: RefusalRecord | undefined;
  /** True once a counted refusal's path (or origin) differed from the sample's. */
  pathVaried: boolean;
  originVaried: boolean;
  repeated: number;
  /** When counting began (the line logged at once, or the last count). */
  since: number;
}

/**
 * Writes refusals' log lines: the first of an address and reason at once,
 * the rest as one count a second.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RefusalLog } from "./refusal_log.ts";
 * const lines: Record<string, unknown>[] = [];
 * const refusals = new RefusalLog((record) => lines.push(record), { now: () => 0 });
 * const refused = { event: "http_refused", ip: "203.0.113.7", reason: "request_rate", status: 429, path: "/metrics" };
 * for (let i = 0; i < 500; i++) refusals.refused(refused);
 * assert.equal(lines.length, 1, "the first at once");
 * refusals.dispose();
 * assert.deepEqual(lines[1], { ...refused, repeated: 499, intervalMs: 0 });
 * ```
 */
export class RefusalLog {
  readonly #log: Log;
  readonly #intervalMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** By `event ip reason`: addresses logged at once, now counted. */
  readonly #tracked = new Map<string, Repeats>();
  /** By `event reason`: refusals of addresses the table had no room for. */
  readonly #untracked = new Map<string, Repeats>();
  #cancel: Cancel | undefined;

  constructor(log: Log, options: RefusalLogOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? REFUSAL_LOG_INTERVAL_MS;
    this.#max = options.maxAddresses ?? MAX_REFUSING_ADDRESSES;
    this.#now = options.now ?? Date.now;
  }

  /** Address and reason pairs tracked now (at most `maxAddresses`). */
  get size(): number {
    return this.#tracked.size;
  }

  /** Logs one refusal at once, or counts it for the next line. */
  refused(record: RefusalRecord): void {
    const key = `${record.event} ${record.ip ?? ""} ${record.reason}`;
    const tracked = this.#tracked.get(key);
    if (tracked !== undefined) {
      count(tracked, record);
    } else if (this.#tracked.size < this.#max) {
      this.#tracked.set(key, none(this.#now()));
      this.#log(record);
    } else {
      const byReason = `${record.event} ${record.reason}`;
      let untracked = this.#untracked.get(byReason);
      if (untracked === undefined) {
        untracked = none(this.#now());
        this.#untracked.set(byReason, untracked);
      }
      count(untracked, record);
    }
    this.#cancel ??= after(this.#intervalMs, () => this.#tick());
  }

  /**
   * Logs the counts now and forgets the addresses; for shutdown, so the
   * last second's refusals reach the log before it is flushed.
   */
  dispose(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#logCounts(true);
  }

  #tick(): void {
    this.#cancel = undefined;
    this.#logCounts(false);
    if (this.#tracked.size > 0 || this.#untracked.size > 0) {
      this.#cancel = after(this.#intervalMs, () => this.#tick());
    }
  }

  /** One line per key with refusals counted; quiet keys are forgotten. */
  #logCounts(forgetAll: boolean): void {
    const now = this.#now();
    for (const [key, repeats] of this.#tracked) {
      if (repeats.sample === undefined || forgetAll) {
        this.#tracked.delete(key);
      }
      this.#logRepeats(repeats, now, undefined);
    }
    for (const repeats of this.#untracked.values()) {
      this.#logRepeats(repeats, now, "untracked addresses");
    }
    this.#untracked.clear();
  }

  #logRepeats(repeats: Repeats, now: number, from: string | undefined): void {
    const sample = repeats.sample;
    if (sample === undefined) return;
    this.#log({
      ...sample,
      ...(from === undefined ? {} : { ip: undefined, from }),
      ...(repeats.pathVaried ? { path: undefined } : {}),
      ...(repeats.originVaried ? { origin: undefined } : {}),
      repeated: repeats.repeated,
      intervalMs: now - repeats.since,
    });
    Object.assign(repeats, none(now));
  }
}

/** Nothing counted yet, from `since`. */
function none(since: number): Repeats {
  return {
    sample: undefined,
    pathVaried: false,
    originVaried: false,
    repeated: 0,
    since,
  };
}

/**
 * Counts one refusal. Its path and origin stay in the line only while every
 * refusal counted had the same: a flood over many paths says no path.
 */
function count(repeats: Repeats, record: RefusalRecord): void {
  repeats.repeated++;
  const sample = repeats.sample;
  if (sample === undefined) {
    repeats.sample = record;
    return;
  }
  if (sample.path !== record.path) repeats.pathVaried = true;
  if (sample.origin !== record.origin) repeats.originVaried = true;
}
