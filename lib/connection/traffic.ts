/**
 * What one connection moved: messages and payload bytes each way, counted
 * for the connection (its close line, the overload watch's `Activity`) and
 * for the process (`Metrics`) in one step per message.
 *
 * @module
 */
import type { Metrics } from "../metrics.ts";

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
  readonly #metrics: Metrics;

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  /** A message of `bytes` payload bytes arrived. */
  received(bytes: number): void {
    this.messages++;
    this.bytesIn += bytes;
    this.#metrics.messagesIn++;
    this.#metrics.bytesIn += bytes;
  }

  /** A message of `bytes` payload bytes was sent. */
  sent(bytes: number): void {
    this.messagesOut++;
    this.bytesOut += bytes;
    this.#metrics.messagesOut++;
    this.#metrics.bytesOut += bytes;
  }
}
