/**
 * What every Server-Sent Events stream of this service does around its own
 * events (`/sse` and `/room/NAME/presence`): it holds its client's
 * connection slot while it runs (so shutdown reaches it), is ended when
 * SSE_LIFETIME_SECONDS is up, and once it has ended frees the slot and logs
 * one `sse_close` line. The endpoint writes only its events.
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

/** What a leased stream reads: its lifetime, the log, the ids and the open-stream count. */
export interface LeasedStreamServices {
  config: Pick<Config, "sseLifetimeSeconds">;
  log: Log;
  ids: IdSource;
  metrics: Pick<Metrics, "streamsOpen">;
}

/**
 * Answers `c` with the stream `open` makes, for an admitted client holding
 * `lease`: tracked by the lease, counted in `/healthz`'s `streams` and
 * `ws_echo_sse_streams_open` while it runs (`/sse` and presence alike: both
 * hold a slot), ended after SSE_LIFETIME_SECONDS, and on its end the slot
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
  const { config, log, ids, metrics } = services;
  const { client, lease } = admitted;
  const id = ids.next();
  const startedAt = performance.now();
  return streamSSE(c, async (writer) => {
    const stream = open(writer, id);
    lease.track(stream);
    metrics.streamsOpen++;
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
