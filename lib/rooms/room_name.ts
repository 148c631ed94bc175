/**
 * The rule for a room's name, the last segment of `/room/NAME`: 1-64 of
 * `A-Z a-z 0-9 _ -`, so a name is safe in a URL, a log line, a Redis channel
 * and a metric-free label without escaping. Names are compared exactly
 * (`Lobby` and `lobby` are two rooms).
 *
 * @module
 */
import * as z from "zod/mini";
import { lazy } from "../lazy.ts";

/** The rule as people read it: the body of the `400` that a bad name gets. */
export const ROOM_NAME_RULE =
  "a room name is 1-64 characters of A-Z a-z 0-9 _ -";

/**
 * The rule as a zod schema, built on first use rather than at import: a
 * plain echo never needs it, and each schema built costs start-up time
 * (BENCHMARKS.md, issue #23).
 */
export const roomName: () => z.ZodMiniString = lazy(() =>
  z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, ROOM_NAME_RULE))
);

/**
 * The room name in a path segment, or undefined when it breaks the rule.
 * The segment is taken as sent: a percent-encoded character is not allowed
 * in a name, so it is never decoded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRoomName } from "./room_name.ts";
 * assert.equal(parseRoomName("tea_time-2"), "tea_time-2");
 * assert.equal(parseRoomName("a b"), undefined);
 * assert.equal(parseRoomName("x".repeat(65)), undefined);
 * assert.equal(parseRoomName(""), undefined);
 * ```
 */
export function parseRoomName(segment: string): string | undefined {
  const parsed = roomName().safeParse(segment);
  return parsed.success ? parsed.data : undefined;
}
