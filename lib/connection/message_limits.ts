/**
 * The limits every received message passes, in order: MAX_MESSAGE_BYTES,
 * then the connection's message rate, its client's (shared by every
 * connection of the address or prefix) and its byte rate. Token buckets
 * (`admission/token_bucket.ts`); a limit set to 0 is off.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { LimitReason } from "../limits.ts";
import { TokenBucket } from "../admission/token_bucket.ts";

/** One connection's message limits. */
export class MessageLimits {
  readonly #maxMessageBytes: number;
  readonly #messageRate: TokenBucket | undefined;
  readonly #clientMessageRate: TokenBucket | undefined;
  readonly #byteRate: TokenBucket | undefined;

  /**
   * @param clientMessageRate The client's shared bucket (the lease's), if on.
   * @param now `Date.now()`: the buckets start full.
   */
  constructor(
    config: Pick<
      Config,
      | "maxMessageBytes"
      | "rateLimitMessagesPerSecond"
      | "rateLimitMessageBurst"
      | "rateLimitBytesPerSecond"
      | "rateLimitByteBurst"
    >,
    clientMessageRate: TokenBucket | undefined,
    now: number,
  ) {
    this.#maxMessageBytes = config.maxMessageBytes || Infinity;
    this.#messageRate = config.rateLimitMessagesPerSecond > 0
      ? new TokenBucket(
        config.rateLimitMessagesPerSecond,
        config.rateLimitMessageBurst,
        now,
      )
      : undefined;
    this.#clientMessageRate = clientMessageRate;
    this.#byteRate = config.rateLimitBytesPerSecond > 0
      ? new TokenBucket(
        config.rateLimitBytesPerSecond,
        config.rateLimitByteBurst,
        now,
      )
      : undefined;
  }

  /**
   * Takes one message of `bytes` from the rates; returns the first limit it
   * breaks (the rates after a broken one are not taken from), or undefined.
   *
   * @param now `Date.now()`, read once per message.
   */
  broken(bytes: number, now: number): LimitReason | undefined {
    if (bytes > this.#maxMessageBytes) return "message_size";
    if (this.#messageRate && !this.#messageRate.take(1, now)) {
      return "message_rate";
    }
    if (this.#clientMessageRate && !this.#clientMessageRate.take(1, now)) {
      return "ip_message_rate";
    }
    if (this.#byteRate && !this.#byteRate.take(bytes, now)) return "byte_rate";
    return undefined;
  }
}
