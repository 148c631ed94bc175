/**
 * The catalogue of limits a connection can break: for each, the setting that
 * sets it, the close it gets (code and a reason a person can read), and
 * whether its per-IP slot stays taken after the close. The key is the
 * `reason` label of `ws_echo_limit_breaches_total` and the `limit` field of
 * the close log line. What `/limits` says about each comes from the
 * setting's `breach` text in `config.ts`, which a test holds to the close
 * here. Enforced by `connection/echo_connection.ts` (size, rates, backlog),
 * `connection/sweep.ts` and `admission/memory_guard.ts` (shedding).
 *
 * @module
 */
import type { Config, EnvName } from "./config.ts";
import type { CloseReason } from "./protocol/close_codes.ts";

/** One limit. */
export interface LimitRow {
  /** The environment variable that sets it (0 turns it off). */
  readonly setting: EnvName;
  /** The close sent when it is broken (RFC 6455 §7.4.1). */
  readonly close: (config: Config) => CloseReason;
  /**
   * True when the client's per-IP slot stays taken for a while after the
   * close: Deno cannot free a socket whose writes are stuck behind a peer
   * that does not read, so the hold bounds how many one client leaves.
   */
  readonly keepsSlot: boolean;
}

/** Try Again Later (1013, IANA registry): shed, largest holders first. */
const OVERLOADED: CloseReason = {
  code: 1013,
  reason: "server overloaded: try again later",
};

/** Every limit, by the reason label it is counted and logged under. */
export const LIMITS = {
  /** Message too big (1009): the message was not echoed. */
  message_size: {
    setting: "MAX_MESSAGE_BYTES",
    close: (config) => ({
      code: 1009,
      reason: `message too big: limit is ${config.maxMessageBytes} bytes`,
    }),
    keepsSlot: false,
  },
  /** Policy violation (1008): faster than the message rate allows. */
  message_rate: {
    setting: "RATE_LIMIT_MESSAGES_PER_SECOND",
    close: (config) => ({
      code: 1008,
      reason:
        `message rate limit: over ${config.rateLimitMessagesPerSecond} messages/s`,
    }),
    keepsSlot: false,
  },
  /** Policy violation (1008): one address's connections together too fast. */
  ip_message_rate: {
    setting: "RATE_LIMIT_IP_MESSAGES_PER_SECOND",
    close: (config) => ({
      code: 1008,
      reason:
        `message rate limit: over ${config.rateLimitIpMessagesPerSecond} messages/s from your address`,
    }),
    keepsSlot: false,
  },
  /** Policy violation (1008): more bytes than the byte rate allows. */
  byte_rate: {
    setting: "RATE_LIMIT_BYTES_PER_SECOND",
    close: (config) => ({
      code: 1008,
      reason: `byte rate limit: over ${config.rateLimitBytesPerSecond} bytes/s`,
    }),
    keepsSlot: false,
  },
  /**
   * Policy violation (1008): the client does not read its echoes. The count
   * is an estimate (`connection/backlog.ts`): the payload Deno still holds
   * plus an overhead per frame, and every empty echo since the last
   * non-empty one, which Deno never shows as read; the reason says so, as a
   * client that read thousands of empty echoes was told "bytes waiting".
   */
  slow_reader: {
    setting: "MAX_BUFFERED_BYTES",
    close: (config) => ({
      code: 1008,
      reason:
        `slow reader: over ${config.maxBufferedBytes} bytes counted unread (payloads plus a per-frame overhead, empty echoes included)`,
    }),
    keepsSlot: true,
  },
  /** No message from the client for IDLE_TIMEOUT_SECONDS. */
  idle: {
    setting: "IDLE_TIMEOUT_SECONDS",
    close: () => ({ code: 1000, reason: "idle timeout" }),
    keepsSlot: false,
  },
  /** The connections together hold more than MEMORY_BUDGET_BYTES. */
  memory_budget: {
    setting: "MEMORY_BUDGET_BYTES",
    close: () => OVERLOADED,
    keepsSlot: true,
  },
  /** The process's resident memory is over MAX_RSS_BYTES. */
  rss: {
    setting: "MAX_RSS_BYTES",
    close: () => OVERLOADED,
    keepsSlot: true,
  },
} as const satisfies Record<string, LimitRow>;

/** Why the service closed a connection: a limit, or shedding load. */
export type LimitReason = keyof typeof LIMITS;

/** Which memory guard is shedding: the budget or the RSS watch. */
export type ShedCause = Extract<LimitReason, "memory_budget" | "rss">;

/**
 * The close for breaking `reason`'s limit under `config`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { limitClose } from "./limits.ts";
 * assert.deepEqual(limitClose("message_size", DEFAULT_CONFIG), {
 *   code: 1009,
 *   reason: "message too big: limit is 1048576 bytes",
 * });
 * ```
 */
export function limitClose(reason: LimitReason, config: Config): CloseReason {
  return (LIMITS[reason] as LimitRow).close(config);
}
