/**
 * The service's configuration: every knob, its default and its unit, parsed
 * once from the environment with one zod schema. `/limits`, the README table
 * and `/inspect` all describe this object.
 *
 * @module
 */
import { z } from "zod";

const MiB = 1024 * 1024;

/**
 * Parses a decimal integer from an environment string, within a range. One
 * transform rather than a chain of zod checks: each chained schema costs
 * start-up time (together about 8 ms of a 20 ms cold start).
 */
function integer(min: number, max: number, fallback: number) {
  const expected = `expected an integer ${min}-${max}`;
  return z.string().optional().transform((value, ctx) => {
    if (value === undefined) return fallback;
    const text = value.trim();
    const number = Number(text);
    if (/^\d+$/.test(text) && number >= min && number <= max) return number;
    ctx.addIssue({ code: "custom", message: expected });
    return z.NEVER;
  });
}

const booleanFlag = z
  .enum(["true", "false", "1", "0"], {
    error: "expected true or false",
  })
  .optional()
  .transform((value) => value === "true" || value === "1");

const origins = z
  .string()
  .trim()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === "" || value === "*") return "*";
    const list = value.split(",").map((entry) => entry.trim()).filter(
      Boolean,
    );
    for (const entry of list) {
      if (!/^https?:\/\/[^/\s]+$/.test(entry)) {
        ctx.addIssue({
          code: "custom",
          message:
            `expected "*" or a comma-separated list of origins like https://example.com, got "${entry}"`,
        });
        return z.NEVER;
      }
    }
    return list;
  });

/** A path; whether it can be read is checked when the server starts. */
const filePath = z.string().trim().min(1, "expected a file path")
  .optional();

/** The environment variables the service reads, with their defaults. */
export const envSchema = z.object({
  PORT: integer(0, 65535, 9998),
  HOSTNAME: z.string().trim().min(1, "expected a host name or IP address")
    .optional().transform((value) => value ?? "0.0.0.0"),
  MAX_MESSAGE_BYTES: integer(0, 64 * MiB, MiB),
  MAX_BUFFERED_BYTES: integer(0, 1024 * MiB, 4 * MiB),
  RATE_LIMIT_MESSAGES_PER_SECOND: integer(0, 1_000_000_000, 500),
  RATE_LIMIT_MESSAGE_BURST: integer(1, 1_000_000_000, 2000),
  RATE_LIMIT_BYTES_PER_SECOND: integer(0, 2 ** 40, 4 * MiB),
  RATE_LIMIT_BYTE_BURST: integer(1, 2 ** 40, 16 * MiB),
  MAX_CONNECTIONS_PER_IP: integer(0, 1_000_000, 32),
  MAX_CONNECTIONS: integer(0, 10_000_000, 10_000),
  IDLE_TIMEOUT_SECONDS: integer(0, 86_400, 300),
  PING_INTERVAL_SECONDS: integer(0, 86_400, 30),
  SHUTDOWN_GRACE_SECONDS: integer(0, 60, 3),
  SSE_LIFETIME_SECONDS: integer(1, 86_400, 300),
  TRUST_PROXY: booleanFlag,
  ALLOWED_ORIGINS: origins,
  TLS_CERT_FILE: filePath,
  TLS_KEY_FILE: filePath,
});

/** Every environment variable name the service reads. */
export const ENV_NAMES = Object.keys(envSchema.shape) as Array<
  keyof typeof envSchema.shape
>;

/** The parsed configuration, in the units its names state. */
export interface Config {
  /** TCP port; 0 picks a free one. @default 9998 */
  port: number;
  /** Interface to listen on. @default "0.0.0.0" */
  hostname: string;
  /** Largest message echoed; larger closes with 1009. 0 = off. @default 1 MiB */
  maxMessageBytes: number;
  /** Largest send backlog per connection before it is closed. 0 = off. @default 4 MiB */
  maxBufferedBytes: number;
  /** Sustained messages per second per connection. 0 = off. @default 500 */
  rateLimitMessagesPerSecond: number;
  /** Messages a connection may send at once above the sustained rate. @default 2000 */
  rateLimitMessageBurst: number;
  /** Sustained bytes per second per connection. 0 = off. @default 4 MiB */
  rateLimitBytesPerSecond: number;
  /** Bytes a connection may send at once above the sustained rate. @default 16 MiB */
  rateLimitByteBurst: number;
  /** Concurrent WebSocket connections per client IP. 0 = off. @default 32 */
  maxConnectionsPerIp: number;
  /** Concurrent WebSocket connections in total. 0 = off. @default 10000 */
  maxConnections: number;
  /** Seconds without a message from the client before closing. 0 = off. @default 300 */
  idleTimeoutSeconds: number;
  /** Seconds between liveness pings; a peer that misses a pong is dropped. 0 = off. @default 30 */
  pingIntervalSeconds: number;
  /** Seconds to wait for clients to answer the shutdown close. @default 3 */
  shutdownGraceSeconds: number;
  /** Seconds an `/sse` stream lasts before the server ends it. @default 300 */
  sseLifetimeSeconds: number;
  /** Take the client IP from the first X-Forwarded-For entry. @default false */
  trustProxy: boolean;
  /** Browser origins allowed to connect, or "*". @default "*" */
  allowedOrigins: "*" | string[];
  /** PEM certificate and key; both set makes the server listen with TLS. */
  tls: { certFile: string; keyFile: string } | undefined;
}

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
 * @throws {ConfigError} Naming the first bad variable, its value and what is allowed.
 * @example Defaults
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const config = parseConfig({});
 * console.assert(config.port === 9998);
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
  const e = result.data;
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    const missing = e.TLS_CERT_FILE === undefined
      ? "TLS_CERT_FILE"
      : "TLS_KEY_FILE";
    throw new ConfigError(
      `Missing ${missing}: TLS_CERT_FILE and TLS_KEY_FILE must be set together`,
    );
  }
  return {
    port: e.PORT,
    hostname: e.HOSTNAME,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    maxBufferedBytes: e.MAX_BUFFERED_BYTES,
    rateLimitMessagesPerSecond: e.RATE_LIMIT_MESSAGES_PER_SECOND,
    rateLimitMessageBurst: e.RATE_LIMIT_MESSAGE_BURST,
    rateLimitBytesPerSecond: e.RATE_LIMIT_BYTES_PER_SECOND,
    rateLimitByteBurst: e.RATE_LIMIT_BYTE_BURST,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    maxConnections: e.MAX_CONNECTIONS,
    idleTimeoutSeconds: e.IDLE_TIMEOUT_SECONDS,
    pingIntervalSeconds: e.PING_INTERVAL_SECONDS,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    sseLifetimeSeconds: e.SSE_LIFETIME_SECONDS,
    trustProxy: e.TRUST_PROXY,
    allowedOrigins: e.ALLOWED_ORIGINS,
    tls: e.TLS_CERT_FILE !== undefined && e.TLS_KEY_FILE !== undefined
      ? { certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE }
      : undefined,
  };
}

/** The default configuration, for tests and documentation. */
export const DEFAULT_CONFIG: Readonly<Config> = parseConfig({});
