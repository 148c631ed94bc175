/**
 * The service's configuration, read once from the environment: the zod
 * schema built from the table of settings (`settings.ts`, the one list of
 * knobs), the checks of settings that cannot work together, and the one
 * error ({@link ConfigError}) that names the first bad variable.
 *
 * @module
 */
// zod/mini: the same parser as zod with functions instead of methods, so a
// bundle keeps only the parts used (BENCHMARKS.md, issue #23).
import * as z from "zod/mini";
import { Refusal, refuse, type Setting } from "./setting_parsers.ts";
import { type Config, ENV_NAMES, SETTINGS } from "./settings.ts";

// Settings are parsed once, and query options only when a client sends some:
// compiling zod's fast path (its JIT) costs more than it saves. This is zod's
// global setting, so it holds for every schema in the service (import of this
// module: 38 -> 30 ms, BENCHMARKS.md).
z.config({ jitless: true });

export type { Setting } from "./setting_parsers.ts";
export {
  type Config,
  ENV_NAMES,
  type EnvName,
  PLATFORM_ENV_NAMES,
  SETTINGS,
} from "./settings.ts";

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
