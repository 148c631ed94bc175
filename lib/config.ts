/**
 * The service's configuration. {@link SETTINGS} is the one list of knobs:
 * each entry names its environment variable, default, unit, range and meaning,
 * and from it come the zod schema, the {@link Config} type, the variable
 * names that `deno.json` may read, `/limits`, and the README table (a test
 * checks the last two against it).
 *
 * @module
 */
// zod/mini: the same parser as zod with functions instead of methods, so a
// bundle keeps only the parts used (BENCHMARKS.md, issue #23).
import * as z from "zod/mini";

// Settings are parsed once, and query options only when a client sends some:
// compiling zod's fast path (its JIT) costs more than it saves. This is zod's
// global setting, so it holds for every schema in the service (import of this
// module: 38 -> 30 ms, BENCHMARKS.md).
z.config({ jitless: true });

/** Thrown by a setting's `parse` for a value it cannot take. */
class Refusal {
  constructor(readonly message: string) {}
}

/**
 * Refuses the value being parsed: `message` says what is expected, and
 * {@link parseConfig} puts it after the variable's name and value.
 */
function refuse(message: string): never {
  throw new Refusal(message);
}

const MiB = 1024 * 1024;

/** One setting: how it is parsed and how it is documented. */
export interface Setting<Key extends string = string, Value = unknown> {
  /** The property of {@link Config} it fills. */
  readonly key: Key;
  /**
   * Parses the environment string (undefined when unset or empty; never
   * with spaces around it) into the value; calls {@link refuse} with what is
   * expected when it cannot. Runs inside {@link envSchema}, the one zod
   * schema of the environment.
   */
  readonly parse: (value: string | undefined) => Value;
  /** The default as the README writes it. */
  readonly default: string;
  readonly unit: string;
  /** Allowed values, as the README and error messages write them. */
  readonly range: string;
  /** What it does, for the README table. */
  readonly description: string;
  /** For limits: what a client sees when it hits it (`/limits` lists these). */
  readonly breach?: string;
}

/** A decimal integer: digits only, no sign, point or exponent. */
const DIGITS = /^\d+$/;

/** A decimal integer within a range. */
function integer<Key extends string>(
  key: Key,
  about: {
    min: number;
    max: number;
    default: number;
    unit: string;
    description: string;
    breach?: string;
    /** True when 0 switches the setting off. */
    zeroIsOff?: boolean;
  },
): Setting<Key, number> {
  const { min, max, default: fallback } = about;
  const range = `${min}-${max}`;
  return {
    key,
    parse(value) {
      if (value === undefined) return fallback;
      const number = Number(value);
      if (DIGITS.test(value) && number >= min && number <= max) return number;
      return refuse(`expected an integer ${range}`);
    },
    default: String(fallback),
    unit: about.unit,
    range: about.zeroIsOff ? `${range} (0 = off)` : range,
    description: about.description,
    ...(about.breach === undefined ? {} : { breach: about.breach }),
  };
}

/**
 * A file path; whether it can be read is checked when the server starts (an
 * empty value is unset, see {@link envSchema}).
 */
function filePath<Key extends string>(
  key: Key,
  description: string,
): Setting<Key, string | undefined> {
  return {
    key,
    parse: (value) => value,
    default: "unset",
    unit: "PEM file",
    range: "a readable file",
    description,
  };
}

/** `TRUST_PROXY`: a count of proxies, with the old `true`/`false` kept as 1/0. */
function trustedProxies(value: string | undefined): number {
  const text = value?.toLowerCase();
  if (text === undefined || text === "false") return 0;
  if (text === "true") return 1;
  if (/^\d{1,2}$/.test(text) && Number(text) <= 10) return Number(text);
  return refuse(
    "expected the number of proxies in front of the service, 0-10 (true = 1, false = 0)",
  );
}

/** `ALLOWED_ORIGINS`: `*`, or a comma-separated list of origins. */
function origins(value: string | undefined): "*" | string[] {
  if (value === undefined || value === "*") return "*";
  const list = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  for (const entry of list) {
    // A browser's Origin header never ends in "/", so a pasted URL would
    // match no page: say so rather than the generic form below.
    const bare = entry.match(/^(https?:\/\/[^/\s]+)\/\S*$/);
    if (bare) {
      return refuse(
        `expected origins without a path or trailing slash (an Origin header has none), got "${entry}": use "${
          bare[1]
        }"`,
      );
    }
    if (!/^https?:\/\/[^/\s]+$/.test(entry)) {
      return refuse(
        `expected "*" or a comma-separated list of origins like https://example.com, got "${entry}"`,
      );
    }
  }
  return list;
}

/** An IP address or host name to listen on; unset means both IPv6 and IPv4. */
function bindAddress(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const address = value.replace(/^\[|\]$/g, "");
  if (/^[0-9A-Za-z.:%_-]+$/.test(address)) return address;
  return refuse("expected an IP address or host name such as 127.0.0.1 or ::");
}

/** A yes-or-no setting; unset is no. */
function onOff(value: string | undefined): boolean {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true" || value === "1") return true;
  return refuse("expected true or false (or 1 or 0)");
}

/** `LOG_FORMAT`: text lines or JSON lines; unset is text. */
function logFormat(value: string | undefined): "text" | "json" {
  if (value === undefined || value === "text" || value === "json") {
    return value ?? "text";
  }
  return refuse("expected text or json");
}
/** A Redis server's URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
function redisUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (URL.canParse(value) && /^rediss?:\/\/[^/?#]/.test(value)) return value;
  return refuse(
    "expected a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380",
  );
}

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
      'unread echoes (sent or delayed) above this; close 1008 "slow reader: over N bytes waiting to be read"',
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

/**
 * The zod schema of the whole environment, built from {@link SETTINGS}: one
 * transform that runs each setting's `parse` in table order; the first value
 * refused becomes an issue at its variable's name. One schema rather than one
 * per setting: each built costs start-up time (BENCHMARKS.md, issue #23).
 *
 * Two rules hold for every setting, so they are here and not in each parse:
 * an empty value (`PORT=`) is unset, as systemd's `Environment=PORT=` and a
 * compose file's `PORT: ${PORT:-}` mean it, and shells and `.env` files
 * write it; spaces around a value (`PORT=" 9"`) are refused, since whatever
 * wrote them likely meant something else.
 */
export const envSchema: z.ZodMiniType<
  Config,
  Record<string, string | undefined>
> = z.transform((env: Record<string, string | undefined>, ctx) => {
  const config: Record<string, unknown> = {};
  for (const name of ENV_NAMES) {
    const setting: Setting = SETTINGS[name];
    const value = env[name];
    try {
      if (value !== undefined && typeof value !== "string") {
        refuse("expected a string");
      }
      if (value !== undefined && value !== value.trim()) {
        refuse("expected no spaces before or after the value");
      }
      config[setting.key] = setting.parse(value === "" ? undefined : value);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      ctx.issues.push({
        code: "custom",
        message: error.message,
        input: value,
        path: [name],
      });
      return z.NEVER;
    }
  }
  return config as Config;
});

/** Thrown when the environment holds a value the service cannot run with. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads the configuration from environment variables.
 *
 * @param env Variable names to values, e.g. `Deno.env.toObject()`.
 * @throws {ConfigError} Naming the first bad variable, its value and what is
 * allowed, or the two variables that cannot work together.
 * @example Defaults
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 * assert.equal(parseConfig({}).port, 9998);
 * assert.equal(parseConfig({ TRUST_PROXY: "true" }).trustProxy, 1);
 * ```
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const picked: Record<string, string | undefined> = {};
  for (const name of ENV_NAMES) picked[name] = env[name];
  const result = envSchema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(
      `Invalid ${name} "${picked[name]}": ${issue.message}`,
    );
  }
  const config = result.data;
  checkCombinations(config);
  return config;
}

/** Rejects settings that parse one by one but cannot work together. */
function checkCombinations(config: Config): void {
  if (
    (config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)
  ) {
    const missing = config.tlsCertFile === undefined
      ? "TLS_CERT_FILE"
      : "TLS_KEY_FILE";
    throw new ConfigError(
      `Missing ${missing}: TLS_CERT_FILE and TLS_KEY_FILE must be set together`,
    );
  }
  const { maxMessageBytes, rateLimitBytesPerSecond, rateLimitByteBurst } =
    config;
  if (
    rateLimitBytesPerSecond > 0 && maxMessageBytes > 0 &&
    rateLimitByteBurst < maxMessageBytes
  ) {
    throw new ConfigError(
      `Invalid RATE_LIMIT_BYTE_BURST "${rateLimitByteBurst}"${
        String(rateLimitByteBurst) === SETTINGS.RATE_LIMIT_BYTE_BURST.default
          ? " (its default)"
          : ""
      }: expected at least MAX_MESSAGE_BYTES (${maxMessageBytes}), or every message between the two closes with "byte rate limit"; raise RATE_LIMIT_BYTE_BURST with MAX_MESSAGE_BYTES`,
    );
  }
  const { memoryBudgetBytes, maxRssBytes } = config;
  if (
    memoryBudgetBytes > 0 && maxRssBytes > 0 && maxRssBytes <= memoryBudgetBytes
  ) {
    throw new ConfigError(
      `Invalid MAX_RSS_BYTES "${maxRssBytes}": expected more than MEMORY_BUDGET_BYTES (${memoryBudgetBytes}), since the process needs memory beyond its echo backlog`,
    );
  }
}

/**
 * The default configuration, for tests and documentation. Marked pure: a
 * bundle that does not use it leaves out its parse (the service's does not:
 * `/limits` builds its own defaults when first asked).
 */
export const DEFAULT_CONFIG: Readonly<Config> = /* @__PURE__ */ parseConfig(
  {},
);
