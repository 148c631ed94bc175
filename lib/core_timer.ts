/**
 * Timers on Deno's own timer queue, for the service's long-lived timers (the
 * memory guard's samples, the overload watch, the idle sweep, the log's
 * flush). Deno 2's global `setTimeout` is Node's: the first call loads
 * Node's timers module, and each call makes a `Timeout` object. Measured
 * (BENCHMARKS.md, issue #23): about 7% of the CPU from spawn to first echo
 * goes to that load, and Node timers were about 6% of the server's CPU per
 * handshake. `AbortSignal.timeout` runs on Deno's core timers and loads
 * nothing.
 *
 * Unlike an unref'd `setTimeout`, a pending timer here keeps the process
 * alive (Deno refs an `AbortSignal.timeout` while it has a listener), so
 * whoever starts one cancels it when it stops. A cancelled timer is unref'd
 * and fires into no listener. Deno's test sanitizer does not track these
 * timers, so the tests check the cancellations instead.
 *
 * Each timer costs an `AbortSignal` and a listener (30-47 µs to create and
 * cancel, measured last round against 19-26 µs for `setTimeout`): for
 * timers per process or per batch, not per message.
 *
 * @module
 */

/** Cancels a timer; safe to call more than once, and after it fired. */
export type Cancel = () => void;

/**
 * Calls `callback` once after `ms` milliseconds.
 *
 * @param ms Delay in ms; fractions round, negatives count as 0.
 * @returns A function that cancels the call.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { after } from "./core_timer.ts";
 * const fired = await new Promise<boolean>((resolve) => after(5, () => resolve(true)));
 * assert.equal(fired, true);
 * ```
 */
export function after(ms: number, callback: () => void): Cancel {
  const signal = AbortSignal.timeout(Math.max(0, Math.round(ms)));
  const listener = () => callback();
  signal.addEventListener("abort", listener);
  return () => signal.removeEventListener("abort", listener);
}

/**
 * Calls `callback` every `ms` milliseconds until cancelled. The next call is
 * armed before each call, `ms` after the previous one fired: a late turn of
 * the event loop delays the ticks after it rather than bunching them.
 *
 * @returns A function that stops the calls.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { every } from "./core_timer.ts";
 * let ticks = 0;
 * await new Promise<void>((resolve) => {
 *   const stop = every(1, () => {
 *     if (++ticks === 3) {
 *       stop();
 *       resolve();
 *     }
 *   });
 * });
 * assert.equal(ticks, 3);
 * ```
 */
export function every(ms: number, callback: () => void): Cancel {
  let stopped = false;
  let cancel: Cancel;
  const tick = () => {
    cancel = after(ms, tick);
    callback();
  };
  cancel = after(ms, tick);
  return () => {
    if (stopped) return;
    stopped = true;
    cancel();
  };
}
