/**
 * What one connection moved: messages and payload bytes each way, counted
 * for the connection (its close line, the overload watch's `Activity`) and
 * for the process (`Metrics`) in one step per message; and, every
 * {@link SEEN_TELL_BYTES} of payload the app saw, a word to the RSS
 * watchdog thread ({@link PayloadSeen}).
 *
 * @module
 */
import type { Closable } from "../admission/slots.ts";
import type { Metrics } from "../metrics.ts";

/**
 * How much more payload the app must have seen of a connection before it
 * is told again ({@link PayloadSeen}), in bytes. The watchdog thread's
 * flood rule allows FLOOD_SLACK_BYTES (64 KiB, `rss_watchdog.ts`) beyond a
 * message; this lag is half of it. Smaller means more posts: one per
 * 1 MiB message at most, none for a chat client of short lines until it
 * has sent 32 KiB.
 */
export const SEEN_TELL_BYTES = 32 * 1024;

/**
 * Where connections tell the payload the app has seen of them while the
 * loop may be held: the overload watch sets {@link PayloadSeen.tell} once
 * its watchdog thread runs (`own_peers.ts`); until then nothing is told.
 * Why: Deno hands queued messages to the app one after another without
 * letting timers run (ext/websocket/01_websocket.js ~754), so the watch's
 * timer looks held while an honest pipelining client's messages flow, and
 * the thread, which sees only what the kernel read, must subtract what the
 * app saw (`chooseAborts`, `watchdog_rules.ts`).
 */
export interface PayloadSeen {
  /** Told with the connection, which `activity()` reads; undefined: nobody listens. */
  tell: ((connection: Closable) => void) | undefined;
}

/** One connection's counts; plain fields, updated per message. */
export class Traffic {
  /** Complete messages received (not those dropped while closing). */
  messages = 0;
  /** Their payload bytes. */
  bytesIn = 0;
  /** Payload of messages dropped while closing: seen, not counted as received. */
  bytesDiscarded = 0;
  /** Messages sent (empty ones too): a listen-only client is not silent. */
  messagesOut = 0;
  /** Their payload bytes. */
  bytesOut = 0;
  /**
   * The `bytesIn` at which {@link PayloadSeen} is told next: what the app
   * saw (`bytesIn + bytesDiscarded`) is {@link SEEN_TELL_BYTES} past the
   * last told. One comparison per message.
   */
  #tellAt = SEEN_TELL_BYTES;
  readonly #metrics: Metrics;
  readonly #seen: PayloadSeen | undefined;
  readonly #owner: Closable | undefined;

  /**
   * @param metrics The process's counts.
   * @param seen Where `owner` is told of the payload seen; none under tests.
   */
  constructor(
    metrics: Metrics,
    seen?: { to: PayloadSeen | undefined; owner: Closable },
  ) {
    this.#metrics = metrics;
    this.#seen = seen?.to;
    this.#owner = seen?.owner;
  }

  /** A message of `bytes` payload bytes arrived. */
  received(bytes: number): void {
    this.messages++;
    this.bytesIn += bytes;
    this.#metrics.messagesIn++;
    this.#metrics.bytesIn += bytes;
    if (this.bytesIn >= this.#tellAt) this.#tell();
  }

  /** A message of `bytes` payload bytes arrived while closing: dropped. */
  discarded(bytes: number): void {
    this.bytesDiscarded += bytes;
    this.#tellAt -= bytes;
    if (this.bytesIn >= this.#tellAt) this.#tell();
  }

  /** A message of `bytes` payload bytes was sent. */
  sent(bytes: number): void {
    this.messagesOut++;
    this.bytesOut += bytes;
    this.#metrics.messagesOut++;
    this.#metrics.bytesOut += bytes;
  }

  #tell(): void {
    this.#tellAt = this.bytesIn + SEEN_TELL_BYTES;
    if (this.#owner) this.#seen?.tell?.(this.#owner);
  }
}
