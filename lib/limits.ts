/**
 * The limits a client can run into, described from the configuration object:
 * `GET /limits` and the `/inspect` report both print this, and a test checks
 * the README's table against the defaults, so the three never disagree.
 *
 * @module
 */
import { type Config, DEFAULT_CONFIG } from "./config.ts";

/** One limit as a client sees it. */
export interface LimitDescription {
  /** The active value, in `unit`. */
  value: number;
  /** The value when the variable is unset. */
  default: number;
  /** True when `value` is 0 and the limit is switched off. */
  off: boolean;
  unit: string;
  /** The environment variable that sets it. */
  env: string;
  /** What happens at the limit. */
  breach: string;
}

/** The configuration keys that are limits, with how each is reported. */
const LIMITS = {
  maxMessageBytes: {
    env: "MAX_MESSAGE_BYTES",
    unit: "bytes",
    breach: 'not echoed; close 1009 "message too big"',
  },
  maxBufferedBytes: {
    env: "MAX_BUFFERED_BYTES",
    unit: "bytes",
    breach:
      'unread echoes (sent or delayed) above this; close 1008 "slow reader"',
  },
  rateLimitMessagesPerSecond: {
    env: "RATE_LIMIT_MESSAGES_PER_SECOND",
    unit: "messages/s",
    breach: 'close 1008 "message rate limit"',
  },
  rateLimitMessageBurst: {
    env: "RATE_LIMIT_MESSAGE_BURST",
    unit: "messages",
    breach: "messages allowed at once above the rate",
  },
  rateLimitBytesPerSecond: {
    env: "RATE_LIMIT_BYTES_PER_SECOND",
    unit: "bytes/s",
    breach: 'close 1008 "byte rate limit"',
  },
  rateLimitByteBurst: {
    env: "RATE_LIMIT_BYTE_BURST",
    unit: "bytes",
    breach: "bytes allowed at once above the rate",
  },
  maxConnectionsPerIp: {
    env: "MAX_CONNECTIONS_PER_IP",
    unit: "connections",
    breach: "WebSocket upgrades and /sse streams refused with 429",
  },
  maxConnections: {
    env: "MAX_CONNECTIONS",
    unit: "connections",
    breach: "WebSocket upgrades and /sse streams refused with 503",
  },
  idleTimeoutSeconds: {
    env: "IDLE_TIMEOUT_SECONDS",
    unit: "seconds",
    breach:
      'no message from the client for this long; close 1000 "idle timeout"',
  },
  pingIntervalSeconds: {
    env: "PING_INTERVAL_SECONDS",
    unit: "seconds",
    breach: "the server pings; a peer that misses the pong is dropped",
  },
  sseLifetimeSeconds: {
    env: "SSE_LIFETIME_SECONDS",
    unit: "seconds",
    breach: "an /sse stream ends after this long",
  },
} as const satisfies Partial<
  Record<keyof Config, { env: string; unit: string; breach: string }>
>;

/** The name of each limit, as `/limits` keys it. */
export type LimitName = keyof typeof LIMITS;

/** Every limit with its active value and default, keyed by its config name. */
export function describeLimits(
  config: Config,
): Record<LimitName, LimitDescription> {
  const described = {} as Record<LimitName, LimitDescription>;
  for (const [name, about] of Object.entries(LIMITS)) {
    const key = name as LimitName;
    described[key] = {
      value: config[key],
      default: DEFAULT_CONFIG[key],
      off: config[key] === 0,
      ...about,
    };
  }
  return described;
}
