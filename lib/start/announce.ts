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

/**
 * Prints a start-up failure in one line and exits non-zero; rethrows bugs.
 * Written at once to stderr, not with `console.error`, which under `deno
 * serve --parallel` prefixes the worker's name.
 */
export function exitOnStartupError(error: unknown): never {
  let line: string;
  if (error instanceof ConfigError || error instanceof ListenError) {
    line = `ws-echo: ${error.message}`;
  } else if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    line = `ws-echo: Missing permission: ${error.message}`;
  } else {
    throw error;
  }
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
  Deno.exit(2);
}
