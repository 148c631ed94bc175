/**
 * `/stream`: the server sends `count` numbered messages of `size` bytes, one
 * every `interval` ms, then closes with 1000 "stream complete". It waits for
 * a client that reads slowly instead of closing it: a message is sent only
 * when it fits under the connection's ceiling of unread bytes
 * (MAX_BUFFERED_BYTES), so the slow-reader limit never trips on the
 * service's own messages. Every message goes through the connection's one
 * send function, which counts it and charges the memory budget. It is
 * paced at RATE_LIMIT_BYTES_PER_SECOND (bursts up to RATE_LIMIT_BYTE_BURST),
 * the rate a client may send at: a few readers at full speed otherwise
 * took the event loop from everyone (a bystander's echo waited 4.3-6.3 s
 * with four, attack review, issue #20).
 *
 * @module
 */
import {
  CLOSE_STREAM_COMPLETE,
  type CloseReason,
} from "../protocol/close_codes.ts";
import { type Pace, TokenBucket } from "../admission/token_bucket.ts";
import type { Config } from "../config.ts";
import { FRAME_COST_BYTES } from "./backlog.ts";

/** What a `/stream` connection sends, from its query options. */
export interface StreamOptions {
  /** Messages to send, numbered from 1. */
  count: number;
  /** Payload bytes per message. */
  sizeBytes: number;
  type: "text" | "binary";
  /** Milliseconds from one message to the next; 0 = as fast as the client reads. */
  intervalMs: number;
}

/**
 * Most bytes a `/stream` leaves unread when MAX_BUFFERED_BYTES is off: the
 * stream still waits for its reader instead of queueing every message.
 */
export const STREAM_CEILING_BYTES = 4 * 1024 * 1024;

/** Most bytes a `/stream` leaves unread: MAX_BUFFERED_BYTES, or the default ceiling. */
export function streamCeilingBytes(maxBufferedBytes: number): number {
  return maxBufferedBytes || STREAM_CEILING_BYTES;
}

/**
 * Most messages of `size=0` one stream may send. `bufferedAmount` does not
 * count empty frames, so the connection counts every empty frame sent since
 * the last non-empty one as unread, for good: more than fit under the ceiling
 * would stall the stream (measured: 6,989 of 20,000 at 4 MiB, then nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maxEmptyStreamMessages } from "./stream_push.ts";
 * assert.equal(maxEmptyStreamMessages(4 * 1024 * 1024), 6988);
 * ```
 */
export function maxEmptyStreamMessages(maxBufferedBytes: number): number {
  const ceiling = streamCeilingBytes(maxBufferedBytes);
  return Math.max(
    1,
    Math.floor((ceiling - FRAME_MARGIN_BYTES) / FRAME_COST_BYTES),
  );
}

/** How the stream talks to its connection. */
export interface PushOutput {
  /** The connection's one send function; `bytes` is the payload length. */
  send(data: string | ArrayBuffer, bytes: number): void;
  /**
   * Bytes the client has not read yet, as the slow-reader limit counts them
   * (payload plus a cost per frame); Infinity while the server sheds load.
   */
  unreadBytes(): number;
  /** Closes after what was sent. */
  close(reason: CloseReason): void;
  /** The client reads: the idle timeout restarts. */
  touch(): void;
}

/**
 * Room kept beyond a message's payload: two frame costs, so a message that
 * fits here never takes the backlog over the ceiling.
 */
const FRAME_MARGIN_BYTES = 2 * FRAME_COST_BYTES;

/** Shortest and longest wait for the client to read, in milliseconds. */
const READ_POLL_MIN_MS = 1;
const READ_POLL_MAX_MS = 50;

/** How fast one `/stream` may send. */
export interface StreamPacing {
  /**
   * Most bytes left unread at once ({@link streamCeilingBytes}), at least
   * twice the message size (the options parser sees to that).
   */
  ceilingBytes: number;
  /**
   * The connection's bytes out (RATE_LIMIT_BYTES_PER_SECOND and
   * RATE_LIMIT_BYTE_BURST); undefined when that limit is off.
   */
  byteRate?: TokenBucket | undefined;
  /**
   * The same rate shared by every `/stream` of the client's address, paid
   * together with every client's budget (`Lease.clientStreamBytes`);
   * undefined when off.
   */
  addressByteRate?: Pace | undefined;
}

/**
 * A new stream's pacing under `config`: the ceiling from MAX_BUFFERED_BYTES,
 * and a full bucket of RATE_LIMIT_BYTES_PER_SECOND / RATE_LIMIT_BYTE_BURST
 * (none when the byte rate is off).
 *
 * @param now `Date.now()`.
 */
export function streamPacing(
  config: Pick<
    Config,
    "maxBufferedBytes" | "rateLimitBytesPerSecond" | "rateLimitByteBurst"
  >,
  now: number,
  addressByteRate?: Pace,
): StreamPacing {
  return {
    addressByteRate,
    ceilingBytes: streamCeilingBytes(config.maxBufferedBytes),
    byteRate: config.rateLimitBytesPerSecond > 0
      ? new TokenBucket(
        config.rateLimitBytesPerSecond,
        config.rateLimitByteBurst,
        now,
      )
      : undefined,
  };
}

/** One `/stream` connection's messages. */
export class StreamPush {
  readonly #output: PushOutput;
  readonly #options: StreamOptions;
  readonly #ceilingBytes: number;
  readonly #byteRate: TokenBucket | undefined;
  readonly #addressByteRate: Pace | undefined;
  /** The filler after the sequence number, built once. */
  readonly #filler: string;
  #next = 1;
  #startedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pollMs = READ_POLL_MIN_MS;
  #stopped = false;

  /**
   * @param options What to send (the query options) and how fast: the
   * ceiling of unread bytes and the byte rates ({@link streamPacing}).
   */
  constructor(output: PushOutput, options: StreamOptions & StreamPacing) {
    this.#output = output;
    this.#options = options;
    this.#ceilingBytes = options.ceilingBytes;
    this.#byteRate = options.byteRate;
    this.#addressByteRate = options.addressByteRate;
    this.#filler = options.type === "text" ? "x".repeat(options.sizeBytes) : "";
  }

  /** Sends the first message now and schedules the rest. */
  start(): void {
    this.#startedAt = Date.now();
    this.#push();
  }

  /** Sends nothing more (the connection is closing). Safe to call twice. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Sends every message that is due and fits, then waits for the next. */
  #push(): void {
    this.#timer = undefined;
    const { count, intervalMs, sizeBytes } = this.#options;
    const now = Date.now();
    while (!this.#stopped && this.#next <= count) {
      const dueAt = this.#startedAt + (this.#next - 1) * intervalMs;
      if (dueAt > now) return this.#wait(dueAt - now);
      const unread = this.#output.unreadBytes();
      if (unread + sizeBytes + FRAME_MARGIN_BYTES > this.#ceilingBytes) {
        // The client has not read enough: look again soon, then less often.
        const wait = this.#pollMs;
        this.#pollMs = Math.min(wait * 2, READ_POLL_MAX_MS);
        return this.#wait(wait);
      }
      this.#pollMs = READ_POLL_MIN_MS;
      const waitMs = Math.max(
        paceMs(this.#byteRate, sizeBytes, now),
        paceMs(this.#addressByteRate, sizeBytes, now),
      );
      if (waitMs > 0) return this.#wait(Math.ceil(waitMs));
      take(this.#byteRate, sizeBytes, now);
      take(this.#addressByteRate, sizeBytes, now);
      this.#output.send(this.#message(this.#next), sizeBytes);
      this.#output.touch();
      this.#next++;
    }
    if (!this.#stopped) {
      this.#stopped = true;
      this.#output.close(CLOSE_STREAM_COMPLETE);
    }
  }

  #wait(ms: number): void {
    this.#timer = setTimeout(() => this.#push(), ms);
  }

  /**
   * Message `seq`: text starts with the decimal number and a space, then
   * `x`s; binary starts with the number as a 32-bit big-endian unsigned
   * integer, then zeros. Both are cut to the size, so a message shorter than
   * the number carries its first bytes only.
   */
  #message(seq: number): string | ArrayBuffer {
    const size = this.#options.sizeBytes;
    if (this.#options.type === "text") {
      const head = `${seq} `;
      return head.length >= size
        ? head.slice(0, size)
        : head + this.#filler.slice(head.length);
    }
    const bytes = new Uint8Array(size);
    const number = new Uint8Array(4);
    new DataView(number.buffer).setUint32(0, seq);
    bytes.set(number.subarray(0, Math.min(4, size)));
    return bytes.buffer;
  }
}

/**
 * How long until `rate` (if any) holds `bytes`, in ms; a message over the
 * burst waits for a full bucket, then empties it.
 */
function paceMs(
  rate: Pace | undefined,
  bytes: number,
  now: number,
): number {
  return rate ? rate.waitMs(Math.min(bytes, rate.burst), now) : 0;
}

/** Takes `bytes` (at most the burst) from `rate`, if any. */
function take(rate: Pace | undefined, bytes: number, now: number) {
  rate?.take(Math.min(bytes, rate.burst), now);
}
