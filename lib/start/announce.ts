/**
 * What the entry points print besides the log: the first line, saying where
 * to connect, and a start-up failure in one line.
 *
 * @module
 */
import { type Config, ConfigError } from "../config.ts";
import type { BatchedLog } from "../log.ts";
import { ListenError, type ListenUrls } from "./server.ts";

/**
 * The first line of output, saying where to connect: `ws-echo: page … echo …`
 * as text, or a `listening` record with LOG_FORMAT=json. Written at once
 * (and not with `console.log`, which under `deno serve --parallel` prefixes
 * the worker's name).
 */
export function announceListening(
  urls: ListenUrls,
  output: BatchedLog,
  format: Config["logFormat"],
): void {
  if (format === "json") {
    output.log({ event: "listening", ...urls });
    output.flush();
    return;
  }
  Deno.stdout.writeSync(
    new TextEncoder().encode(`ws-echo: page ${urls.page}  echo ${urls.echo}\n`),
  );
}

/** Prints a start-up failure in one line and exits non-zero; rethrows bugs. */
export function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError || error instanceof ListenError) {
    console.error(`ws-echo: ${error.message}`);
  } else if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    console.error(`ws-echo: Missing permission: ${error.message}`);
  } else {
    throw error;
  }
  Deno.exit(2);
}
