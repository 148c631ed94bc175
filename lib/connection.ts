/**
 * One echo connection: every message passes the size, rate and backlog
 * limits and is sent back unchanged. This is the only per-message code path.
 * A connection with no options takes the direct path; delay, JSON format,
 * close_after and `/close` commands take a second one, so a pure echo pays
 * one branch for them.
 *
 * @module
 */
import {
  CLOSE_GOODBYE,
  CLOSE_IDLE,
  closeByteRate,
  closeMessageRate,
  type CloseReason,
  closeSlowReader,
  closeTooBig,
  parseCloseCommand,
} from "./close_codes.ts";
import type { Config } from "./config.ts";
import type { IdleWatch, Watched } from "./idle.ts";
import { type EchoOptions, isPlainEcho } from "./echo_options.ts";
import type { LimitReason, Metrics } from "./metrics.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { Closable, Lease } from "./registry.ts";
import { utf8ByteLength } from "./utf8.ts";

/** Writes one log line. */
export type Log = (line: string) => void;

/** What a connection needs from the app around it. */
export interface ConnectionOptions {
  config: Config;
  metrics: Metrics;
  lease: Lease;
  log: Log;
  /** Client IP as the limits see it. */
  ip: string;
  /** Closes the connection after IDLE_TIMEOUT_SECONDS of silence; none = off. */
  idle: IdleWatch | undefined;
  /** Connection id, for the log line. */
  id: string;
  /** Query options: delay, format, close_after. */
  echo: EchoOptions;
  /** Text messages sent on open, before any echo (`/inspect`, greeting). */
  prelude: readonly string[];
  /** `/close`: text "CODE REASON" closes with that code and reason. */
  closeCommands: boolean;
}

/**
 * The direct path reads `bufferedAmount` once per this many bytes sent, so a
 * slow reader can overshoot MAX_BUFFERED_BYTES by at most this plus one message.
 */
export const BACKLOG_CHECK_BYTES = 64 * 1024;

/**
 * Bytes charged per delayed message on top of its payload, so a flood of
 * empty messages under `delay` still reaches the slow-reader cap.
 */
export const QUEUED_MESSAGE_COST = 64;

/**
 * Deno cannot abort a socket whose writes are stuck behind a peer that does
 * not read (denoland/deno#25126), so a slow reader's slot stays taken this long
 * after it is closed, bounding how many such sockets one IP can leave behind.
 */
export const SLOW_READER_SLOT_HOLD_MS = 60_000;

/**
 * Echoes every message on `socket` back unchanged, within the limits in `config`.
 * Text "Goodbye" is echoed and then closes with 1000 (pywebsocket's echo handler).
 */
export function serveEcho(
  socket: WebSocket,
  options: ConnectionOptions,
): Closable {
  const connection = new EchoConnection(socket, options);
  options.lease.track(connection);
  return connection;
}

/** An echo waiting for its `delay`. */
interface DelayedEcho {
  data: string | ArrayBuffer;
  dueAt: number;
  /** Bytes it counts against the slow-reader cap. */
  cost: number;
  /** The close that follows it (Goodbye, close_after). */
  then: CloseReason | undefined;
}

class EchoConnection implements Closable, Watched, EventListenerObject {
  readonly #socket: WebSocket;
  readonly #options: ConnectionOptions;
  /**
   * Message times come from `Date.now()`: half the cost of
   * `performance.now()` per message; the rate limiter tolerates clock steps.
   */
  readonly #openedAt = Date.now();
  readonly #maxMessageBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #messageRate: TokenBucket | undefined;
  readonly #byteRate: TokenBucket | undefined;
  /** When the client last sent a message (or opened), for the idle sweep. */
  lastActiveAt: number = this.#openedAt;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #messages = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  /** Bytes echoed since `bufferedAmount` was last read. */
  #sentSinceCheck = 0;
  /** The close this service initiated, if any. */
  #closing: CloseReason | undefined;
  #breach: LimitReason | undefined;
  #finished = false;
  #opened = false;
  /** False when any option or `/close` is on: take `#respond`. */
  readonly #plain: boolean;
  /** Echoes waiting for their `delay`, oldest first. */
  #delayed: DelayedEcho[] | undefined;
  #delayedBytes = 0;
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
  /** Messages accepted for echo on the options path. */
  #accepted = 0;
  /** Set once the last echo before a close is accepted: ignore the rest. */
  #lastEchoAccepted = false;

  constructor(socket: WebSocket, options: ConnectionOptions) {
    const { config } = options;
    this.#socket = socket;
    this.#options = options;
    this.#maxMessageBytes = config.maxMessageBytes || Infinity;
    this.#maxBufferedBytes = config.maxBufferedBytes || Infinity;
    const now = this.#openedAt;
    this.#messageRate = config.rateLimitMessagesPerSecond > 0
      ? new TokenBucket(
        config.rateLimitMessagesPerSecond,
        config.rateLimitMessageBurst,
        now,
      )
      : undefined;
    this.#byteRate = config.rateLimitBytesPerSecond > 0
      ? new TokenBucket(
        config.rateLimitBytesPerSecond,
        config.rateLimitByteBurst,
        now,
      )
      : undefined;
    this.#plain = isPlainEcho(options.echo) && !options.closeCommands;
    socket.binaryType = "arraybuffer";
    // The connection is its own listener (`handleEvent`): no closure per
    // event type per connection. Errors are followed by a close event, which
    // does the bookkeeping, so they need no listener.
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
  }

  /** The socket's `open`, `message` and `close` events. */
  handleEvent(event: Event): void {
    if (event.type === "message") {
      return this.#onMessage((event as MessageEvent).data);
    }
    if (event.type === "open") return this.#onOpen();
    if (event.type === "close") {
      const { code, reason } = event as CloseEvent;
      this.#onClose(code, reason);
    }
  }

  /** Closes with `reason` unless a close is already under way; safe in any state. */
  close(reason: CloseReason): void {
    if (this.#closing || this.#finished) return;
    this.#closing = reason;
    if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
    // Deno 2.9 drops the close frame when close() runs inside a message event
    // while more frames are in flight; from the next macrotask it is sent.
    this.#closeTimer = setTimeout(() => this.#sendClose(reason), 0);
  }

  #sendClose(reason: CloseReason): void {
    this.#closeTimer = undefined;
    if (this.#finished) return;
    try {
      this.#socket.close(reason.code, reason.reason);
    } catch {
      // Already closed by the peer.
    }
  }

  #onOpen(): void {
    const { metrics } = this.#options;
    this.#opened = true;
    metrics.connectionsOpen++;
    metrics.connectionsTotal++;
    this.#options.idle?.add(this);
    for (const text of this.#options.prelude) this.#sendCounted(text);
  }

  #onMessage(data: string | ArrayBuffer): void {
    if (this.#closing || this.#lastEchoAccepted) return;
    const isText = typeof data === "string";
    const bytes = isText ? utf8ByteLength(data) : data.byteLength;
    const now = Date.now();
    this.lastActiveAt = now;
    this.#messages++;
    this.#bytesIn += bytes;
    const metrics = this.#options.metrics;
    metrics.messagesIn++;
    metrics.bytesIn += bytes;
    if (bytes > this.#maxMessageBytes) {
      return this.#breached(
        "message_size",
        closeTooBig(this.#options.config.maxMessageBytes),
      );
    }
    if (this.#messageRate && !this.#messageRate.take(1, now)) {
      return this.#breached(
        "message_rate",
        closeMessageRate(this.#options.config.rateLimitMessagesPerSecond),
      );
    }
    if (this.#byteRate && !this.#byteRate.take(bytes, now)) {
      return this.#breached(
        "byte_rate",
        closeByteRate(this.#options.config.rateLimitBytesPerSecond),
      );
    }
    if (!this.#plain) return this.#respond(data, isText, bytes, now);
    const socket = this.#socket;
    socket.send(data);
    this.#bytesOut += bytes;
    metrics.messagesOut++;
    metrics.bytesOut += bytes;
    if (isText && data === "Goodbye") return this.close(CLOSE_GOODBYE);
    // Reading bufferedAmount is an op call: do it once per 64 KiB sent.
    this.#sentSinceCheck += bytes;
    if (this.#sentSinceCheck >= BACKLOG_CHECK_BYTES) {
      this.#sentSinceCheck = 0;
      this.#checkBacklog(0);
    }
  }

  /** Closes a client whose unread echoes (sent or delayed) exceed the cap. */
  #checkBacklog(delayedBytes: number): void {
    const buffered = this.#socket.bufferedAmount;
    // bufferedAmount wraps negative past 2 GiB.
    if (buffered + delayedBytes > this.#maxBufferedBytes || buffered < 0) {
      this.#options.lease.holdFor(SLOW_READER_SLOT_HOLD_MS);
      this.#breached(
        "slow_reader",
        closeSlowReader(this.#options.config.maxBufferedBytes),
      );
    }
  }

  /** The path for connections with options or `/close` commands. */
  #respond(
    data: string | ArrayBuffer,
    isText: boolean,
    bytes: number,
    now: number,
  ): void {
    const { echo, closeCommands } = this.#options;
    if (closeCommands && isText) {
      const command = parseCloseCommand(data as string);
      if (command && "refusal" in command) {
        return this.#sendCounted(command.refusal);
      }
      if (command) return this.close(command);
    }
    this.#accepted++;
    const reply = echo.format === "json"
      ? describeMessage(this.#messages, data, bytes)
      : data;
    const then = isText && data === "Goodbye"
      ? CLOSE_GOODBYE
      : this.#accepted === echo.closeAfter?.echoes
      ? echo.closeAfter.close
      : undefined;
    if (then) this.#lastEchoAccepted = true;
    if (echo.delayMs === 0) return this.#echo(reply, then);
    const cost = byteLength(reply) + QUEUED_MESSAGE_COST;
    (this.#delayed ??= []).push({
      data: reply,
      dueAt: now + echo.delayMs,
      cost,
      then,
    });
    this.#delayedBytes += cost;
    this.#delayTimer ??= setTimeout(() => this.#flushDelayed(), echo.delayMs);
    this.#checkBacklog(this.#delayedBytes);
  }

  /** Sends every delayed echo that is due, in order, and re-arms for the next. */
  #flushDelayed(): void {
    this.#delayTimer = undefined;
    const now = Date.now();
    while (!this.#closing && !this.#finished) {
      const next = this.#delayed?.[0];
      if (next === undefined) return;
      if (next.dueAt > now) {
        this.#delayTimer = setTimeout(
          () => this.#flushDelayed(),
          next.dueAt - now,
        );
        return;
      }
      this.#delayed!.shift();
      this.#delayedBytes -= next.cost;
      this.#echo(next.data, next.then);
    }
  }

  /** Sends one echo, then closes with `then` if it was the last one. */
  #echo(data: string | ArrayBuffer, then: CloseReason | undefined): void {
    this.#sendCounted(data);
    if (then) return this.close(then);
    this.#checkBacklog(this.#delayedBytes);
  }

  #sendCounted(data: string | ArrayBuffer): void {
    this.#socket.send(data);
    const bytes = byteLength(data);
    this.#bytesOut += bytes;
    this.#options.metrics.messagesOut++;
    this.#options.metrics.bytesOut += bytes;
  }

  /** Called by the idle sweep. */
  closeIdle(): void {
    this.#breached("idle", CLOSE_IDLE);
  }

  #breached(reason: LimitReason, close: CloseReason): void {
    if (this.#closing) return;
    this.#breach = reason;
    this.#options.metrics.breached(reason);
    this.close(close);
  }

  /** Deno can fire `close` twice (after an idle timeout): count it once. */
  #onClose(code: number, reason: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#options.idle?.delete(this);
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
    this.#delayed = undefined;
    const { metrics, lease, log, ip, id } = this.#options;
    if (this.#opened) metrics.connectionsOpen--;
    // A stuck socket reports code 0; record the code the service sent.
    const finalCode = this.#closing?.code ?? code;
    metrics.closed(finalCode);
    lease.release();
    const ms = Date.now() - this.#openedAt;
    const why = this.#breach ? ` limit=${this.#breach}` : "";
    log(
      `ws close id=${id} ip=${ip} code=${finalCode} reason=${
        JSON.stringify(this.#closing?.reason ?? reason)
      }${why} duration=${ms}ms messages=${this.#messages} bytes_in=${this.#bytesIn} bytes_out=${this.#bytesOut}`,
    );
  }
}

function byteLength(data: string | ArrayBuffer): number {
  return typeof data === "string" ? utf8ByteLength(data) : data.byteLength;
}

/** `format=json`: one received message, described; binary data as base64. */
function describeMessage(
  seq: number,
  data: string | ArrayBuffer,
  bytes: number,
): string {
  const isText = typeof data === "string";
  return JSON.stringify({
    seq,
    type: isText ? "text" : "binary",
    bytes,
    receivedAt: new Date().toISOString(),
    data: isText ? data : new Uint8Array(data).toBase64(),
  });
}
