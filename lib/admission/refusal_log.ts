/**
 * The log lines of refusals, collapsed. A refusal costs the service little
 * (no route, a short body), so a stranger can ask for thousands a second:
 * with one line each, one address past its request rate wrote 9,936 lines
 * a second (`deno run -A bench/request_flood.ts`), the log's disk and
 * collector paying for it. Here the first refusal of an address for a
 * reason is logged at once, as before; the ones after it are counted by
 * cause (the event and the reason), and once a second one line per cause
 * says how many there were (`repeated=9935 interval_ms=1000`), naming the
 * address (and path, and origin) while every refusal counted had the same.
 * A crowd refused together is one line a second, not one per address: 200
 * addresses refused every 1.5 s wrote a line per refusal while an address
 * was forgotten after one quiet second (1,113 in 10 s, now 208:
 * `deno run -A bench/refused_lines.ts 10 200 1500`).
 * An address is forgotten {@link REFUSAL_FORGET_MS} after its last refusal,
 * so its next refusal is logged at once again.
 *
 * The table is bounded: past {@link MAX_REFUSING_ADDRESSES} addresses, the
 * refusals of addresses not in it are only counted. So refusals write at
 * most one line at once per new address and reason, and one a second per
 * cause, whatever the rate. `/metrics` still counts every refusal.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";
import type { Log, LogRecord } from "../log.ts";

/** How often the counts are logged, in ms. */
export const REFUSAL_LOG_INTERVAL_MS = 1000;

/**
 * How long an address and reason stay known after their last refusal, in
 * ms: a refusal of a known one is counted, not logged at once. Longer than
 * a refused client's retries (a second or a few), so a crowd retrying is
 * counted rather than logged anew at each try.
 */
export const REFUSAL_FORGET_MS = 60_000;

/** Address and reason pairs known at most: a few hundred KiB. */
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
  /** @default REFUSAL_FORGET_MS */
  forgetMs?: number;
  /** @default MAX_REFUSING_ADDRESSES */
  maxAddresses?: number;
  /** The clock, ms. @default Date.now */
  now?: () => number;
}

/** Refusals of one cause counted since its last line. */
interface Repeats {
  /** The first refusal counted. */
  sample: RefusalRecord;
  /** True once a counted refusal's address (or path, origin) differed from the sample's. */
  ipVaried: boolean;
  pathVaried: boolean;
  originVaried: boolean;
  repeated: number;
  /** When the first was counted. */
  since: number;
}

/**
 * Writes refusals' log lines: the first of an address and reason at once,
 * the rest as one count a second per cause.
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
  readonly #forgetMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** By `event ip reason`: when each was last refused (ms). */
  readonly #known = new Map<string, number>();
  /** By `event reason`: the refusals counted since the last line. */
  readonly #counted = new Map<string, Repeats>();
  #cancel: Cancel | undefined;

  constructor(log: Log, options: RefusalLogOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? REFUSAL_LOG_INTERVAL_MS;
    this.#forgetMs = options.forgetMs ?? REFUSAL_FORGET_MS;
    this.#max = options.maxAddresses ?? MAX_REFUSING_ADDRESSES;
    this.#now = options.now ?? Date.now;
  }

  /** Address and reason pairs known now (at most `maxAddresses`). */
  get size(): number {
    return this.#known.size;
  }

  /** Logs one refusal at once, or counts it for its cause's next line. */
  refused(record: RefusalRecord): void {
    const key = `${record.event} ${record.ip ?? ""} ${record.reason}`;
    const now = this.#now();
    if (this.#known.has(key)) {
      this.#known.set(key, now);
      this.#count(record, now);
    } else if (this.#known.size < this.#max) {
      this.#known.set(key, now);
      this.#log(record);
    } else {
      this.#count(record, now);
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
    this.#logCounts();
    this.#known.clear();
  }

  #count(record: RefusalRecord, now: number): void {
    const cause = `${record.event} ${record.reason}`;
    const repeats = this.#counted.get(cause);
    if (repeats === undefined) {
      this.#counted.set(cause, {
        sample: record,
        ipVaried: false,
        pathVaried: false,
        originVaried: false,
        repeated: 1,
        since: now,
      });
      return;
    }
    repeats.repeated++;
    const sample = repeats.sample;
    if (sample.ip !== record.ip) repeats.ipVaried = true;
    if (sample.path !== record.path) repeats.pathVaried = true;
    if (sample.origin !== record.origin) repeats.originVaried = true;
  }

  #tick(): void {
    this.#cancel = undefined;
    this.#logCounts();
    const now = this.#now();
    for (const [key, at] of this.#known) {
      if (now - at >= this.#forgetMs) this.#known.delete(key);
    }
    if (this.#known.size > 0) {
      this.#cancel = after(this.#intervalMs, () => this.#tick());
    }
  }

  /**
   * One line per cause with refusals counted. What varied among them is
   * left out: a crowd's line names no address, a flood over many paths no
   * path.
   */
  #logCounts(): void {
    const now = this.#now();
    for (const repeats of this.#counted.values()) {
      this.#log({
        ...repeats.sample,
        ...(repeats.ipVaried ? { ip: undefined } : {}),
        ...(repeats.pathVaried ? { path: undefined } : {}),
        ...(repeats.originVaried ? { origin: undefined } : {}),
        repeated: repeats.repeated,
        intervalMs: now - repeats.since,
      });
    }
    this.#counted.clear();
  }
}
