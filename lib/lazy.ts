/**
 * A value built at its first use rather than at import. Meant for zod
 * schemas: each one built at import costs start-up time that most
 * processes never get anything for (a plain echo parses no room name, no
 * `prlimit` output, no other worker's message; measured with `--cpu-prof`,
 * BENCHMARKS.md, issue #23), so the modules that hold one build it here.
 *
 * @module
 */

/**
 * Wraps `build` so that it runs once, at the first call; that call and
 * every later one return what it built.
 *
 * @param build Makes the value: an object (a schema, a table of them).
 * @returns The getter.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lazy } from "./lazy.ts";
 * let builds = 0;
 * const shape = lazy(() => ({ build: ++builds }));
 * assert.equal(builds, 0, "nothing built at import");
 * assert.equal(shape(), shape());
 * assert.equal(builds, 1);
 * ```
 */
export function lazy<T extends object>(build: () => T): () => T {
  let built: T | undefined;
  return () => built ??= build();
}
