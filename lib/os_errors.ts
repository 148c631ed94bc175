/**
 * What an operating-system error says about the process, read from Deno's
 * error: EMFILE and ENFILE reach JavaScript as message text only (`Http:
 * Error: Too many open files (os error 24)` from `accept()`, a plain
 * `Error` from `Deno.open`), so their test lives here, once, for the
 * listener (`start/listener.ts`) and the page's files
 * (`http/static_files.ts`) alike.
 *
 * @module
 */

/**
 * True for EMFILE (per-process limit) and ENFILE (system-wide limit): no
 * descriptor is free, from `accept()`, `listen()` or `Deno.open`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDescriptorExhaustion } from "./os_errors.ts";
 * assert.ok(isDescriptorExhaustion(new Error("Too many open files (os error 24)")));
 * assert.ok(!isDescriptorExhaustion(new Deno.errors.NotFound("No such file")));
 * ```
 */
export function isDescriptorExhaustion(error: unknown): boolean {
  return /\(os error 2[34]\)/.test(String(error));
}
