/**
 * The query options of the WebSocket endpoints (`/echo?delay=250&format=json`)
 * as one catalogue: each option's bounds, its zod schema and its help line.
 * `parse_options.ts` reads a query with it; `/limits` and the 400 bodies show
 * the help. A new option is a row here, in the schema and in
 * {@link ECHO_OPTION_HELP}.
 *
 * @module
 */
import * as z from "zod/mini";
import {
  isSendableCloseCode,
  MAX_CLOSE_REASON_BYTES,
  SENDABLE_CLOSE_CODES,
} from "../protocol/close_codes.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import { lazy } from "../lazy.ts";

/** Longest `delay`, in milliseconds. */
export const MAX_DELAY_MS = 10_000;
/** Largest `close_after`. */
export const MAX_CLOSE_AFTER = 1_000_000;
/** Longest `open_delay`, in milliseconds. */
export const MAX_OPEN_DELAY_MS = 10_000;
/** Longest `retry_after`, in seconds: one day. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;
/** Most messages one `/stream` sends. */
export const MAX_STREAM_COUNT = 100_000;
/** Longest `/stream` interval, in milliseconds. */
export const MAX_STREAM_INTERVAL_MS = 60_000;
/**
 * Largest `/stream` size the schema takes, in bytes; MAX_MESSAGE_BYTES and
 * MAX_BUFFERED_BYTES narrow it (`parse_options.ts`).
 */
export const MAX_STREAM_SIZE_BYTES = 64 * 1024 * 1024;

/**
 * An option given at most once: a repeated option arrives as an array of its
 * values, which this refuses with `given twice; expected <what>, once`, so
 * that `delay=1&delay=2` says first that it was repeated, not that a value is
 * wrong (both are fine). `expected <what>` stays whole for the callers that
 * rewrite it (`/stream`'s size bounds).
 */
function once<T extends z.ZodMiniType<unknown, string>>(
  expected: string,
  schema: T,
) {
  return z.pipe(
    z.string({
      error: (issue) =>
        `given ${timesGiven(issue.input)}; expected ${expected}, once`,
    }),
    schema,
  );
}

/** "twice" or "3 times": how often a repeated option was given. */
function timesGiven(input: unknown): string {
  const count = Array.isArray(input) ? input.length : 0;
  return count === 2 ? "twice" : `${count} times`;
}

/**
 * A whole number `min`-`max` given once; `expected` says what is allowed
 * when that is more than the range (a close code's gaps).
 */
function integerOption(
  min: number,
  max: number,
  expected = `an integer ${min}-${max}`,
) {
  return once(
    expected,
    z.pipe(
      z.pipe(
        z.string().check(z.regex(/^\d{1,10}$/, `expected ${expected}`)),
        z.transform(Number),
      ),
      z.number().check(
        z.minimum(min, `expected ${expected}`),
        z.maximum(max, `expected ${expected}`),
      ),
    ),
  );
}

/** One of `values`, given at most once. */
function choice<const V extends readonly [string, ...string[]]>(
  values: V,
  expected: string,
) {
  return once(expected, z.enum(values, { error: `expected ${expected}` }));
}

function flag() {
  return z.pipe(
    choice(["", "1", "true", "0", "false"], "no value, 1, true, 0 or false"),
    z.transform((value) => value === "" || value === "1" || value === "true"),
  );
}

/** The options only `/stream` takes; elsewhere they are refused. */
export const STREAM_OPTIONS = ["count", "size", "type", "interval"] as const;

/**
 * The options `/room/NAME` takes; elsewhere they are refused, and on a room
 * every other option is (a room relays, it does not echo).
 */
export const ROOM_OPTIONS = ["self"] as const;

/**
 * The query options of the WebSocket endpoints (`/echo`, `/close`,
 * `/inspect`, an upgrade on `/`, and `/stream`). Unknown parameters are not
 * part of it: client libraries add their own (`?EIO=4`, cache busters,
 * tokens), and pywebsocket ignores the query, so they are ignored.
 *
 * Built on the first query string rather than at import: its 40-odd zod
 * schemas cost start-up time that a plain echo never needs (measured with
 * `--cpu-prof`, about 5% of the CPU to the first echo, BENCHMARKS.md #23).
 */
export const echoQuerySchema: () => EchoQuerySchema = lazy(
  buildEchoQuerySchema,
);

type EchoQuerySchema = ReturnType<typeof buildEchoQuerySchema>;

/** What a `code` may be, in every message about a bad one. */
const CLOSE_CODE_EXPECTED =
  `a close code a server may send: ${SENDABLE_CLOSE_CODES}`;

function buildEchoQuerySchema() {
  return z.object({
    delay: z.optional(integerOption(0, MAX_DELAY_MS)),
    format: z.optional(choice(["raw", "json"], "raw or json")),
    greeting: z.optional(flag()),
    close_after: z.optional(integerOption(1, MAX_CLOSE_AFTER)),
    code: z.optional(
      integerOption(1000, 4999, CLOSE_CODE_EXPECTED).check(
        z.refine(isSendableCloseCode, {
          error: `expected ${CLOSE_CODE_EXPECTED}`,
        }),
      ),
    ),
    reason: z.optional(
      once(
        "a text",
        z.string().check(z.refine(
          (reason) => utf8ByteLength(reason) <= MAX_CLOSE_REASON_BYTES,
          {
            error: `expected at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`,
          },
        )),
      ),
    ),
    status: z.optional(integerOption(400, 599)),
    retry_after: z.optional(integerOption(0, MAX_RETRY_AFTER_SECONDS)),
    open_delay: z.optional(integerOption(0, MAX_OPEN_DELAY_MS)),
    count: z.optional(integerOption(1, MAX_STREAM_COUNT)),
    size: z.optional(integerOption(0, MAX_STREAM_SIZE_BYTES)),
    type: z.optional(choice(["text", "binary"], "text or binary")),
    interval: z.optional(integerOption(0, MAX_STREAM_INTERVAL_MS)),
    self: z.optional(choice(["0", "1"], "0 or 1")),
  }).check(z.superRefine((query, ctx) => {
    const needs = [
      ["code", "close_after"],
      ["reason", "close_after"],
      ["retry_after", "status"],
    ] as const;
    for (const [key, partner] of needs) {
      if (query[key] !== undefined && query[partner] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `only applies together with ${partner}`,
        });
      }
    }
  }));
}

/** One line per option, for 400 bodies and the README. */
export const ECHO_OPTION_HELP = {
  delay: `milliseconds to wait before each echo, 0-${MAX_DELAY_MS}`,
  format:
    "raw (default) or json: each echo wrapped as {seq, type, bytes, receivedAt, data}",
  greeting:
    "send one text message naming the service and the connection id first",
  close_after: `close after this many echoes, 1-${MAX_CLOSE_AFTER}`,
  code: `close code for close_after, ${SENDABLE_CLOSE_CODES} (default 1000)`,
  reason:
    `close reason for close_after, at most ${MAX_CLOSE_REASON_BYTES} bytes`,
  status:
    "refuse the upgrade with this HTTP status, 400-599, to test a client's failure handling",
  retry_after:
    `with status: send Retry-After with these seconds, 0-${MAX_RETRY_AFTER_SECONDS}`,
  open_delay:
    `milliseconds before the 101 is sent, 0-${MAX_OPEN_DELAY_MS}; the connection counts against the caps meanwhile`,
  count: `/stream: messages to send, 1-${MAX_STREAM_COUNT} (default 10)`,
  size:
    "/stream: bytes per message, 0-MAX_MESSAGE_BYTES (default 32); each starts with its sequence number",
  type: "/stream: text (default) or binary",
  interval:
    `/stream: milliseconds between messages, 0-${MAX_STREAM_INTERVAL_MS} (default 1000; 0 = as fast as you read)`,
  self: "/room/NAME: 1 to receive your own messages too (default 0)",
} as const;

/** The options as the schema parsed them. */
export type EchoQuery = z.output<EchoQuerySchema>;

/** What the schema says of a bad `size`, before the limits narrow it. */
export const SIZE_EXPECTED = `expected an integer 0-${MAX_STREAM_SIZE_BYTES}`;
