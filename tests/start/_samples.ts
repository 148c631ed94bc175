/**
 * Samples for the overload watch's detectors (`overload_signals.ts`), for
 * the tests that feed them without a network.
 *
 * @module
 */
import type { Sample } from "../../lib/start/overload_signals.ts";

/** One mebibyte, in bytes. */
export const MiB = 1024 * 1024;

/**
 * A sample at `at` ms of a quiet process (100 MiB RSS, nothing counted,
 * moved or late), with `fields` on top.
 */
export function sample(at: number, fields: Partial<Sample> = {}): Sample {
  return {
    at,
    rssBytes: 100 * MiB,
    usedBytes: 0,
    delayMs: 0,
    messagesIn: 0,
    bytesIn: 0,
    ...fields,
  };
}
