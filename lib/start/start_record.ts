/**
 * The start-up log record: Deno's version, where it runs, and every setting
 * in force.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { LogRecord } from "../log.ts";

/** How the service is served: by itself, or by `deno serve`. */
export type ServeMode = "run" | "serve";

/**
 * Settings `deno serve` decides instead of the service. PORT and
 * BIND_ADDRESS are not among them: `deno task serve` hands them to it
 * (`serveFlags` in `startup.ts`), so the record shows them as under `deno
 * task start`.
 */
const SERVE_DECIDES = new Set<keyof Config>([
  "tlsCertFile",
  "tlsKeyFile",
]);

/**
 * The start-up record: Deno's version, where it runs, and every setting in
 * force (after the open-file limit and the platform defaults).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { startRecord } from "./start_record.ts";
 * const record = startRecord(DEFAULT_CONFIG, { denoDeploy: false, mode: "run" });
 * assert.equal(record.event, "start");
 * assert.equal(record.deno, Deno.version.deno);
 * assert.equal(record.maxMessageBytes, 1048576);
 * ```
 */
export function startRecord(
  config: Config,
  about: { denoDeploy: boolean; mode: ServeMode },
): LogRecord {
  const record: LogRecord = {
    event: "start",
    deno: Deno.version.deno,
    mode: about.mode,
    denoDeploy: about.denoDeploy,
  };
  for (const [key, value] of Object.entries(config)) {
    if (about.mode === "serve" && SERVE_DECIDES.has(key as keyof Config)) {
      continue;
    }
    record[key] = Array.isArray(value)
      ? value.join(",")
      : key === "redisUrl" && typeof value === "string"
      ? withoutPassword(value)
      : value;
  }
  return record;
}

/**
 * A URL as it may be logged: a password in it becomes `***`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withoutPassword } from "./start_record.ts";
 * assert.equal(withoutPassword("redis://:s3cret@db:6379"), "redis://:***@db:6379");
 * assert.equal(withoutPassword("redis://db:6379"), "redis://db:6379");
 * ```
 */
export function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password === "") return url;
  parsed.password = "***";
  return parsed.href;
}
