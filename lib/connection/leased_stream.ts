/**
 * What every Server-Sent Events stream of this service does around its own
 * events (`/sse` and `/room/NAME/presence`): it holds its client's
 * connection slot while it runs (so shutdown reaches it), is charged to the
 * memory guard for what a stream costs in RSS (and shed like any holder), is
 * ended when SSE_LIFETIME_SECONDS is up, and once it has ended frees the
 * slot, its charge, and logs one `sse_close` line. The endpoint writes only its events.
 *
 * @module
 */
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { Context } from "hono";
import type { Client } from "../admission/admit.ts";
import type { Closable, Lease } from "../admission/slots.ts";
import type { Config } from "../config.ts";
import type { IdSource } from "../ids.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { CloseReason } from "../protocol/close_codes.ts";
import type {
  Backlogged,
  MemoryGuard,
  ShedCause,
} from "../admission/memory_guard.ts";

/**
 * What the memory guard counts for each open stream (`/sse` and
 * `/room/NAME/presence` alike), in bytes: what one costs in RSS, idle or
 * read. 2,000 streams read by their clients took the
 * service's RSS from 46 to 263-290 MiB within a minute (110-125 KiB each),
 * against 75 KiB each for a bare `Deno.serve` stream sending the same
 * events and 110 KiB for Hono's `streamSSE` alone (issue #20, /tmp script
 * beside `deno run -A bench/sse_memory.ts`): Deno's HTTP response and
 * Hono's stream, not a leak (RSS falls back once they have gone). Counted
 * at 4 KiB, 2,000 streams from one stranger held RSS at 98% of
 * MAX_RSS_BYTES with 7.8 MiB counted, and the next clients were shed for
 * `rss`; counted at this, the budget holds about 700 streams at its
 * default (96 MiB), and sheds or refuses past that.
 */
export const SSE_STREAM_BYTES = 128 * 1024;

/** Why the memory guard shed a stream, as its `end` event says. */
export function shedReason(cause: ShedCause): string {
  return cause === "rss"
    ? "server overloaded (process memory): try again later"
    : "server overloaded (memory budget): try again later";
}

/** One stream as its endpoint runs it. */
export interface LeasedStream extends Closable {
  /** Ends the stream with `reason`; the first reason wins. */
  end(reason: string): void;
  /** Sends the stream's events; resolves once it has ended. */
  run(): Promise<void>;
  /** Why it ended, for the log; undefined while it runs. */
  readonly reason: string | undefined;
  /** Events sent, for the log. */
  readonly sent: number;
}

/**
 * What every leased stream does the same: the first reason to end wins,
 * shutdown ends it with its close reason's text, and its events are counted
 * (each event's id is its count).
 */
export abstract class EndingStream implements LeasedStream {
  #why: string | undefined;
  /** Events sent so far; the subclass counts them. */
  protected events = 0;

  /** Events sent so far (the last event's id). */
  get sent(): number {
    return this.events;
  }

  /** Why the stream ended, or undefined while it runs. */
  get reason(): string | undefined {
    return this.#why;
  }

  /** Ends the stream with `reason`; the first reason wins. */
  end(reason: string): void {
    if (this.#why !== undefined) return;
    this.#why = reason;
    this.ended();
  }

  /** For shutdown: ends with the close reason's text. */
  close(reason: CloseReason): void {
    this.end(reason.reason);
  }

  /** Called once, by the first {@link end}: wake what waits. */
  protected abstract ended(): void;

  abstract run(): Promise<void>;
}

/**
 * What a leased stream reads: its lifetime, the log, the ids, the
 * open-stream count and breaches, and the memory guard it is charged to.
 */
export interface LeasedStreamServices {
  config: Pick<Config, "sseLifetimeSeconds">;
  log: Log;
  ids: IdSource;
  metrics: Pick<Metrics, "streamsOpen" | "breached">;
  memory: Pick<MemoryGuard, "charge">;
}

/**
 * A stream as the memory guard sees it: {@link SSE_STREAM_BYTES} while it
 * runs, and shed by ending it with {@link shedReason} (a `/sse` stream's
 * `end` event says it; a presence stream just ends), counted as a breach.
 */
function charged(
  stream: LeasedStream,
  metrics: Pick<Metrics, "breached">,
): Backlogged {
  return {
    recount: () => stream.reason === undefined ? SSE_STREAM_BYTES : 0,
    shed(cause) {
      if (stream.reason !== undefined) return;
      metrics.breached(cause);
      stream.end(shedReason(cause));
    },
  };
}

/**
 * Answers `c` with the stream `open` makes, for an admitted client holding
 * `lease`: tracked by the lease, counted in `/healthz`'s `streams` and
 * `ws_echo_sse_streams_open` while it runs (`/sse` and presence alike: both
 * hold a slot), charged to the memory guard at {@link SSE_STREAM_BYTES}
 * (shed like any holder), ended after SSE_LIFETIME_SECONDS, and on its end the slot
 * released and `sse_close` logged (id, ip, path, reason, duration in ms,
 * events sent).
 *
 * @param open Makes the stream on Hono's SSE writer; `id` is the stream's
 * id in the log, for its first event.
 */
export function serveLeasedStream(
  c: Context,
  services: LeasedStreamServices,
  admitted: { client: Client; lease: Lease },
  open: (writer: SSEStreamingApi, id: string) => LeasedStream,
): Response {
  const { config, log, ids, metrics, memory } = services;
  const { client, lease } = admitted;
  const id = ids.next();
  const startedAt = performance.now();
  return streamSSE(c, async (writer) => {
    const stream = open(writer, id);
    const charge = charged(stream, metrics);
    lease.track(stream);
    metrics.streamsOpen++;
    memory.charge(charge, SSE_STREAM_BYTES);
    const lifetime = setTimeout(
      () =>
        stream.end(
          `lifetime of ${config.sseLifetimeSeconds} s reached (SSE_LIFETIME_SECONDS)`,
        ),
      config.sseLifetimeSeconds * 1000,
    );
    try {
      await stream.run();
    } finally {
      memory.charge(charge, 0);
      metrics.streamsOpen--;
      clearTimeout(lifetime);
      lease.release();
      log({
        event: "sse_close",
        id,
        ip: client.ip,
        path: client.path,
        reason: stream.reason ?? "",
        durationMs: Math.round(performance.now() - startedAt),
        events: stream.sent,
      });
    }
  });
}
