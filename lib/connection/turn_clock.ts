/**
 * `Date.now()` read once per turn of the event loop rather than once per
 * message. Deno hands each connection's next message to the app from its
 * own promise, and one turn resolves those of every connection with a
 * message waiting, so every message of a turn shares one reading. On this
 * VM (kvm-clock) `Date.now()` cost 60-330 ns a call (`deno bench`, loads
 * 5-35): the largest single item of the service's per-message work
 * (`bench/handler_cost.ts`, issue #23).
 *
 * The reading is dropped by a microtask queued with it, so it never
 * outlives the microtasks already queued when it was taken: a message
 * whose continuation is queued after the drop reads the clock again. What
 * is read per message (the rate limits' buckets, the idle sweep's last
 * activity, the shed grace) lags the wall clock by at most the turn's
 * work; a bucket refills the lag at the next reading, as the time since
 * its last take is measured from the reading it took.
 *
 * @module
 */

let reading = 0;
let fresh = false;
const resolved = Promise.resolve();
const drop = () => {
  fresh = false;
};

/**
 * Milliseconds since epoch, as `Date.now()` read at the first call of this
 * turn's current run of microtasks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { turnNow } from "./turn_clock.ts";
 * const first = turnNow();
 * assert.equal(turnNow(), first, "one reading for the turn");
 * await new Promise((resolve) => setTimeout(resolve, 5));
 * assert.ok(turnNow() >= first + 5, "read again in a later turn");
 * ```
 */
export function turnNow(): number {
  if (fresh) return reading;
  reading = Date.now();
  fresh = true;
  resolved.then(drop);
  return reading;
}
