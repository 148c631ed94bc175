/**
 * A wait with a deadline that leaves nothing pending: the overload watch's
 * drain before listening again and the shutdown's drain share it.
 *
 * @module
 */

/**
 * Waits for `promise` at most `ms`.
 *
 * @returns True when it resolved in time.
 * @throws What `promise` rejects with, if it does in time.
 * @example A promise that never settles
 * ```ts
 * import assert from "node:assert/strict";
 * import { within } from "./within.ts";
 * assert.equal(await within(new Promise(() => {}), 10), false);
 * assert.equal(await within(Promise.resolve(), 10), true);
 * ```
 */
export async function within(
  promise: Promise<unknown>,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
