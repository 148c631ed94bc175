/**
 * Whether the event loop was held, for the slow-reader rule
 * (`unread_echoes.ts`): Deno writes a queued echo only when its loop turns,
 * so a backlog built while the loop was held says nothing about the
 * client. The overload watch (`overload_watch.ts`) keeps the record as it
 * samples; this module only reads it, so the connection layer needs
 * nothing from `start/`.
 *
 * @module
 */

/**
 * The overload watch's samples are this late or more: the event loop was
 * held, and echoes queued meanwhile may not have been written, in ms. The
 * watchdog thread takes a beat this old for a held loop too
 * (`rss_watchdog.ts`, LOOK_HELD_MS).
 */
export const LOOP_HELD_MS = 250;

/**
 * How long after the loop was last seen held a backlog over
 * MAX_BUFFERED_BYTES is still put down to it, in ms: the turns right after
 * a hold write what it queued, and the flood that held it is often still
 * being cut off (the watchdog aborts flooders 1-2 s into a hold).
 */
export const LOOP_HELD_GRACE_MS = 1000;

/**
 * When the event loop was last seen held, as the overload watch keeps it
 * (`overload_watch.ts`); all in `performance.now()` ms.
 */
export interface LoopTurns {
  /** When the watch's next sample is due; Infinity while it does not watch. */
  sampleDueAt: number;
  /** When a sample last ran {@link LOOP_HELD_MS} or more late; -Infinity: never. */
  heldSeenAt: number;
}

/**
 * True when the event loop is held now (the watch's sample is
 * {@link LOOP_HELD_MS} overdue: the turn right after a hold, before the
 * watch's timer runs) or was within {@link LOOP_HELD_GRACE_MS}.
 *
 * @param now `performance.now()`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loopHeld } from "./loop_turns.ts";
 * const turns = { sampleDueAt: 1000, heldSeenAt: -Infinity };
 * assert.equal(loopHeld(turns, 1100), false);
 * assert.equal(loopHeld(turns, 1300), true); // the sample is 300 ms late
 * // The late sample ran at 1300; the watch's samples are on time since.
 * turns.heldSeenAt = 1300;
 * turns.sampleDueAt = 2300;
 * assert.equal(loopHeld(turns, 2200), true); // within the grace
 * turns.sampleDueAt = 2500;
 * assert.equal(loopHeld(turns, 2400), false);
 * ```
 */
export function loopHeld(turns: LoopTurns, now: number): boolean {
  return now - turns.sampleDueAt >= LOOP_HELD_MS ||
    now - turns.heldSeenAt < LOOP_HELD_GRACE_MS;
}
