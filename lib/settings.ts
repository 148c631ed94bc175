/**
 * The one list of knobs ({@link SETTINGS}): each entry names its
 * environment variable, default, unit, range and meaning, and from it come
 * the {@link Config} type, the zod schema (`config.ts`), the variable names
 * that `deno.json` may read, `/limits`, and the README table (a test checks
 * the last two against it).
 *
 * @module
 */
import {
  bindAddress,
  filePath,
  integer,
  logFormat,
  onOff,
  origins,
  redisUrl,
  type Setting,
  trustedProxies,
} from "./setting_parsers.ts";

const MiB = 1024 * 1024;

/**
 * Every setting, keyed by its environment variable. The README's settings
 * tables show each one's description verbatim, grouped by topic; details that
 * do not fit a short cell sit in the notes under each table.
 */
export const SETTINGS = {
  PORT: integer("port", {
    min: 0,
    max: 65535,
    default: 9998,
    unit: "TCP port",
    description: "`0` picks a free port",
  }),
  BIND_ADDRESS: {
    key: "bindAddress",
    parse: bindAddress,
    default: "unset",
    unit: "address",
    range: "an IP address or host name",
    description:
      "unset: every interface, IPv6 and IPv4; `127.0.0.1`: this host only",
  } satisfies Setting<"bindAddress", string | undefined>,
  MAX_MESSAGE_BYTES: integer("maxMessageBytes", {
    min: 0,
    max: 64 * MiB,
    default: MiB,
    unit: "bytes",
    zeroIsOff: true,
    description: 'not echoed; close `1009` "message too big: limit is N bytes"',
    breach: 'not echoed; close 1009 "message too big: limit is N bytes"',
  }),
  MAX_BUFFERED_BYTES: integer("maxBufferedBytes", {
    min: 0,
    max: 1024 * MiB,
    default: 4 * MiB,
    unit: "bytes",
    zeroIsOff: true,
    description: 'one client\'s unread echoes; close `1008` "slow reader: …"',
    breach:
      'unread echoes (sent or delayed) above this; close 1008 "slow reader: over N bytes counted unread (payloads plus a per-frame overhead, empty echoes included)"',
  }),
  MEMORY_BUDGET_BYTES: integer("memoryBudgetBytes", {
    min: 0,
    max: 64 * 1024 * MiB,
    default: 96 * MiB,
    unit: "bytes",
    zeroIsOff: true,
    description: "what all connections hold; past it the largest close `1013`",
    breach:
      'the largest backlogs close with 1013 "server overloaded: try again later"; upgrades get 503 until back under',
  }),
  MAX_RSS_BYTES: integer("maxRssBytes", {
    min: 0,
    max: 64 * 1024 * MiB,
    default: 400 * MiB,
    unit: "bytes",
    zeroIsOff: true,
    description:
      "process memory (RSS, each second); above it sheds like the budget",
    breach:
      'the largest backlogs close with 1013 "server overloaded: try again later"; upgrades get 503 until back under',
  }),
  RATE_LIMIT_MESSAGES_PER_SECOND: integer("rateLimitMessagesPerSecond", {
    min: 0,
    max: 1_000_000_000,
    default: 500,
    unit: "messages/s",
    zeroIsOff: true,
    description: 'close `1008` "message rate limit: over N messages/s"',
    breach: 'close 1008 "message rate limit: over N messages/s"',
  }),
  RATE_LIMIT_MESSAGE_BURST: integer("rateLimitMessageBurst", {
    min: 1,
    max: 1_000_000_000,
    default: 2000,
    unit: "messages",
    description: "messages allowed at once above the rate",
    breach: "messages allowed at once above the rate",
  }),
  RATE_LIMIT_BYTES_PER_SECOND: integer("rateLimitBytesPerSecond", {
    min: 0,
    max: 2 ** 40,
    default: 4 * MiB,
    unit: "bytes/s",
    zeroIsOff: true,
    description: 'close `1008` "byte rate limit: over N bytes/s"',
    breach: 'close 1008 "byte rate limit: over N bytes/s"',
  }),
  RATE_LIMIT_BYTE_BURST: integer("rateLimitByteBurst", {
    min: 1,
    max: 2 ** 40,
    default: 16 * MiB,
    unit: "bytes",
    description: "bytes allowed at once above the rate",
    breach: "bytes allowed at once above the rate",
  }),
  RATE_LIMIT_IP_MESSAGES_PER_SECOND: integer("rateLimitIpMessagesPerSecond", {
    min: 0,
    max: 1_000_000_000,
    default: 2000,
    unit: "messages/s",
    zeroIsOff: true,
    description: "one address's connections together; close `1008`",
    breach:
      'close 1008 "message rate limit: over N messages/s from your address"',
  }),
  RATE_LIMIT_IP_MESSAGE_BURST: integer("rateLimitIpMessageBurst", {
    min: 1,
    max: 1_000_000_000,
    default: 8000,
    unit: "messages",
    description: "messages one address may send at once above its rate",
    breach: "messages one address may send at once above its rate",
  }),
  RATE_LIMIT_IP_REQUESTS_PER_SECOND: integer("rateLimitIpRequestsPerSecond", {
    min: 0,
    max: 1_000_000_000,
    default: 100,
    unit: "requests/s",
    zeroIsOff: true,
    description: "one address's plain HTTP requests; past it `429`",
    breach: "HTTP requests refused with 429 (per address)",
  }),
  RATE_LIMIT_IP_REQUEST_BURST: integer("rateLimitIpRequestBurst", {
    min: 1,
    max: 1_000_000_000,
    default: 500,
    unit: "requests",
    description: "requests one address may make at once above its rate",
    breach: "HTTP requests one address may make at once above its rate",
  }),
  MAX_CONNECTIONS_PER_IP: integer("maxConnectionsPerIp", {
    min: 0,
    max: 1_000_000,
    default: 32,
    unit: "connections",
    zeroIsOff: true,
    description: "per address; upgrade refused `429` with `Retry-After`",
    breach: "WebSocket upgrades and /sse streams refused with 429",
  }),
  IPV6_PREFIX_LENGTH: integer("ipv6PrefixLength", {
    min: 1,
    max: 128,
    default: 64,
    unit: "bits",
    description: "IPv6 clients in one prefix this long count as one address",
  }),
  MAX_CONNECTIONS: integer("maxConnections", {
    min: 0,
    max: 10_000_000,
    default: 10_000,
    unit: "connections",
    zeroIsOff: true,
    description: "upgrade refused `503`; per worker under `deno task serve`",
    breach: "WebSocket upgrades and /sse streams refused with 503",
  }),
  IDLE_TIMEOUT_SECONDS: integer("idleTimeoutSeconds", {
    min: 0,
    max: 86_400,
    default: 300,
    unit: "seconds",
    zeroIsOff: true,
    description:
      'no message from the client for this long: close `1000` "idle timeout"',
    breach:
      'no message from the client for this long; close 1000 "idle timeout"',
  }),
  PING_INTERVAL_SECONDS: integer("pingIntervalSeconds", {
    min: 0,
    max: 86_400,
    default: 30,
    unit: "seconds",
    zeroIsOff: true,
    description: "Deno pings; a peer that misses the pong is dropped",
    breach: "the server pings; a peer that misses the pong is dropped",
  }),
  SHUTDOWN_GRACE_SECONDS: integer("shutdownGraceSeconds", {
    min: 0,
    max: 60,
    default: 3,
    unit: "seconds",
    description:
      "on SIGINT/SIGTERM, clients get close `1001` and this long to answer",
  }),
  CLOSE_TIMEOUT_SECONDS: integer("closeTimeoutSeconds", {
    min: 0,
    max: 3600,
    default: 10,
    unit: "seconds",
    zeroIsOff: true,
    description:
      "a close the server started and the client leaves unanswered ends (`1006`)",
    breach:
      "a close the client does not answer is given up after this long (1006)",
  }),
  EVENT_LOOP_STALL_MS: integer("eventLoopStallMs", {
    min: 0,
    max: 60_000,
    default: 300,
    unit: "ms",
    zeroIsOff: true,
    description:
      "event-loop delay that, held ~1 s while nothing flows, recycles the listener",
  }),
  SSE_LIFETIME_SECONDS: integer("sseLifetimeSeconds", {
    min: 1,
    max: 86_400,
    default: 300,
    unit: "seconds",
    description: "an `/sse` stream ends with an `end` event after this long",
    breach: "an /sse stream ends after this long",
  }),
  ROOM_MAX_MEMBERS: integer("roomMaxMembers", {
    min: 1,
    max: 100_000,
    default: 64,
    unit: "members",
    description:
      "members of one `/room/NAME` on every instance it hears from; one more: `429`",
    breach: "joining a full room is refused with 429",
  }),
  MAX_ROOMS: integer("maxRooms", {
    min: 0,
    max: 1_000_000,
    default: 1000,
    unit: "rooms",
    zeroIsOff: true,
    description: "rooms with members on this instance; a new one gets `503`",
    breach: "a new room is refused with 503 (0: every room)",
  }),
  REDIS_URL: {
    key: "redisUrl",
    parse: redisUrl,
    default: "unset",
    unit: "URL",
    range: "redis://… or rediss://…",
    description:
      "rooms span every instance using this Redis; unset: one process's workers",
  } satisfies Setting<"redisUrl", string | undefined>,
  TRUST_PROXY: {
    key: "trustProxy",
    parse: trustedProxies,
    default: "0",
    unit: "proxies",
    range: "0-10 (true = 1, false = 0)",
    description:
      "your proxies in front; the client IP is read from `X-Forwarded-For`",
  } satisfies Setting<"trustProxy", number>,
  ALLOWED_ORIGINS: {
    key: "allowedOrigins",
    parse: origins,
    default: "*",
    unit: "origins",
    range: '"*" or a list',
    description:
      "other origins' pages get `403` from WebSocket routes and `/sse`",
  } satisfies Setting<"allowedOrigins", "*" | string[]>,
  TLS_CERT_FILE: filePath(
    "tlsCertFile",
    "with `TLS_KEY_FILE`: TLS (`wss://`); `deno task start` only",
  ),
  TLS_KEY_FILE: filePath("tlsKeyFile", "the private key for `TLS_CERT_FILE`"),
  HSTS_INCLUDE_SUBDOMAINS: {
    key: "hstsIncludeSubdomains",
    parse: onOff,
    default: "false",
    unit: "flag",
    range: "true or false (1 or 0)",
    description:
      "`true` adds `includeSubDomains` to `Strict-Transport-Security`",
  } satisfies Setting<"hstsIncludeSubdomains", boolean>,
  LOG_FORMAT: {
    key: "logFormat",
    parse: logFormat,
    default: "text",
    unit: "format",
    range: "text or json",
    description: "`json`: one JSON object per line, same fields as the text",
  } satisfies Setting<"logFormat", "text" | "json">,
} as const;

type Settings = typeof SETTINGS;

/** Every environment variable the service reads. */
export type EnvName = keyof Settings;

/** Every environment variable name the service reads, in table order. */
export const ENV_NAMES: readonly EnvName[] = Object.keys(SETTINGS) as EnvName[];

/**
 * Variables that tell where the service runs (Deno Deploy sets them),
 * whether Deno exports OpenTelemetry, how many workers `deno serve
 * --parallel` runs (DENO_JOBS, they share the memory budget), and the two
 * debugging switches the
 * Redis client (node-redis) reads when REDIS_URL is set; none is configured
 * here, but each is read, so `--allow-env` lists them too.
 */
export const PLATFORM_ENV_NAMES: readonly string[] = [
  "DENO_DEPLOY",
  "DENO_REGION",
  "DENO_DEPLOYMENT_ID",
  "OTEL_DENO",
  "DENO_JOBS",
  "REDIS_DEBUG_MAINTENANCE",
  "REDIS_EMIT_DIAGNOSTICS",
];

/** The parsed configuration, in the units its names state; see {@link SETTINGS}. */
export type Config = {
  -readonly [Name in EnvName as Settings[Name]["key"]]: ReturnType<
    Settings[Name]["parse"]
  >;
};
