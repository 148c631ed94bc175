/**
 * One `/sse` stream's life: `server` and `request` once, `time` every second,
 * and `end` naming why it ended (its lifetime, shutdown, the memory guard).
 *
 * Memory per stream stays constant over its lifetime. The first version raced
 * each write and each tick against one long-lived `ended` promise; every
 * `Promise.race` left a reaction on that promise until the stream ended (928
 * bytes per stream per second, 2.4 KiB of RSS in the attack review). Here
 * each wait is a fresh promise that an end resolves through one slot
 * (`#wake`), so nothing outlives its tick.
 *
 * @module
 */
import type { SSEMessage, SSEStreamingApi } from "hono/streaming";
import { EndingStream } from "./leased_stream.ts";
import type { Metrics } from "../metrics.ts";

/** What a stream reports to: the counters. */
export interface StreamServices {
  metrics: Pick<Metrics, "streamEventsOut">;
}

/** How long EventSource waits before reconnecting after a stream ends. */
export const SSE_RETRY_MS = 5000;

/** Seconds between `time` events. */
export const SSE_TICK_MS = 1000;

/**
 * Once a stream has ended, how long its last write may wait for a client that
 * does not read before the stream is cut (its `end` event then never goes).
 */
export const SSE_STUCK_WRITE_MS = 1000;

/** An event with its data as a JSON value. */
export interface OpeningEvent {
  event: string;
  data: unknown;
}

/**
 * A running stream: closable at shutdown and by the memory guard
 * (`leased_stream.ts` charges it).
 * {@link EventStream.run} resolves once the stream has ended and its last event is out
 * (or cut off).
 */
export class EventStream extends EndingStream {
  readonly #stream: SSEStreamingApi;
  readonly #services: StreamServices;
  readonly #opening: OpeningEvent[];
  /** Ends the wait in progress (a tick), if one is. */
  #wake: (() => void) | undefined;
  #tick: ReturnType<typeof setTimeout> | undefined;
  #stuck: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param opening The first events, sent before the first `time`; the
   * first carries the reconnect delay.
   */
  constructor(
    stream: SSEStreamingApi,
    services: StreamServices,
    opening: OpeningEvent[],
  ) {
    super();
    this.#stream = stream;
    this.#services = services;
    this.#opening = opening;
    stream.onAbort(() => this.end("client went away"));
  }

  /**
   * A tick in progress ends now; a write the client is not reading is cut
   * after {@link SSE_STUCK_WRITE_MS}.
   */
  protected ended(): void {
    this.#wake?.();
    this.#stuck = setTimeout(() => this.#stream.abort(), SSE_STUCK_WRITE_MS);
  }

  /**
   * Sends the opening events (`server` and `request`), then `time` every
   * second until the stream ends, then `end`.
   */
  async run(): Promise<void> {
    try {
      for (const [i, { event, data }] of this.#opening.entries()) {
        if (this.reason !== undefined) break;
        await this.#send(event, data, i === 0 ? SSE_RETRY_MS : undefined);
      }
      while (this.reason === undefined) {
        await this.#send("time", new Date().toISOString());
        if (this.reason !== undefined) break;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#tick = setTimeout(resolve, SSE_TICK_MS);
        });
        this.#wake = undefined;
        clearTimeout(this.#tick);
      }
      if (!this.#stream.aborted) {
        await this.#send("end", { reason: this.reason });
      }
    } finally {
      clearTimeout(this.#tick);
      clearTimeout(this.#stuck);
    }
  }

  /** One event; resolves once Hono took it, or once the stream was cut. */
  #send(event: string, data: unknown, retry?: number): Promise<void> {
    const message: SSEMessage = {
      event,
      data: JSON.stringify(data),
      id: String(++this.events),
    };
    if (retry !== undefined) message.retry = retry;
    this.#services.metrics.streamEventsOut++;
    return this.#stream.writeSSE(message);
  }
}
