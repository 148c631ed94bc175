/**
 * The query options of the WebSocket endpoints (`/echo?delay=250&format=json`),
 * parsed with one zod schema before the upgrade. With no query string the
 * endpoints behave exactly as before: a pure echo.
 *
 * @module
 */
import * as z from "zod/mini";
import {
  type CloseReason,
  isSendableCloseCode,
  MAX_CLOSE_REASON_BYTES,
  SENDABLE_CLOSE_CODES,
} from "../protocol/close_codes.ts";
import { type Refusal, refusal } from "../refusals.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import { maxEmptyStreamMessages, type StreamOptions } from "./stream_push.ts";

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
/** Largest `/stream` size the schema takes; MAX_MESSAGE_BYTES caps it further. */
const MAX_STREAM_SIZE_BYTES = 64 * 1024 * 1024;

/**
 * An option given at most once: a repeated option arrives as an array of its
 * values, which this refuses with `expected <what>, given once`, so that
 * `format=raw&format=raw` says it was repeated, not that `raw` is wrong.
 */
function once<T extends z.ZodMiniType<unknown, string>>(
  expected: string,
  schema: T,
) {
  return z.pipe(
    z.string({ error: `expected ${expected}, given once` }),
    schema,
  );
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

/** One of `values`, given once. */
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
export function echoQuerySchema(): EchoQuerySchema {
  return built ??= buildEchoQuerySchema();
}

type EchoQuerySchema = ReturnType<typeof buildEchoQuerySchema>;
let built: EchoQuerySchema | undefined;

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

/** What a connection does beyond echoing, from its query options. */
export interface EchoOptions {
  /** Milliseconds before each echo; echoes keep their order. */
  delayMs: number;
  /** `json` wraps each echo in a description of the message. */
  format: "raw" | "json";
  /** Send a first message naming the service and the connection id. */
  greeting: boolean;
  /** Close after this many echoes, with this code and reason. */
  closeAfter: { echoes: number; close: CloseReason } | undefined;
}

/** Options for a request with no query string: a pure echo, shared by all. */
export const PLAIN_ECHO: Readonly<EchoOptions> = {
  delayMs: 0,
  format: "raw",
  greeting: false,
  closeAfter: undefined,
};

/** The options as the schema parsed them. */
export type EchoQuery = z.output<EchoQuerySchema>;

/** Turns parsed query options into connection options. */
export function toEchoOptions(query: EchoQuery): EchoOptions {
  return {
    delayMs: query.delay ?? 0,
    format: query.format ?? "raw",
    greeting: query.greeting ?? false,
    closeAfter: query.close_after === undefined ? undefined : {
      echoes: query.close_after,
      close: {
        code: query.code ?? 1000,
        reason: query.reason ?? `close_after=${query.close_after} reached`,
      },
    },
  };
}

/** True when the options change nothing: the connection is a pure echo. */
export function isPlainEcho(options: EchoOptions): boolean {
  return options.delayMs === 0 && options.format === "raw" &&
    !options.greeting && options.closeAfter === undefined;
}

/** `/stream`'s options, with their defaults where the query gives none. */
export function toStreamOptions(query: EchoQuery): StreamOptions {
  return {
    count: query.count ?? 10,
    sizeBytes: query.size ?? 32,
    type: query.type ?? "text",
    intervalMs: query.interval ?? 1000,
  };
}

/** A query whose options parsed: the options, and the parameters ignored. */
export interface ParsedQuery {
  query: EchoQuery;
  /** Parameters that are not options, in order, each once. */
  ignored: string[];
}

/** Where the query was given, for the options that depend on it. */
export interface QueryContext {
  /** True on `/stream`, the only endpoint that takes {@link STREAM_OPTIONS}. */
  stream: boolean;
  /**
   * True on `/room/NAME`, the only endpoint that takes {@link ROOM_OPTIONS}
   * and none of the others.
   */
  room?: boolean;
  /** MAX_MESSAGE_BYTES (0 = off): the largest `/stream` size. */
  maxMessageBytes: number;
  /**
   * MAX_BUFFERED_BYTES (0 = off): a `/stream` message is at most half of it,
   * so the stream can always send one more while the last is unread.
   */
  maxBufferedBytes: number;
}

const ECHO_ENDPOINT: QueryContext = {
  stream: false,
  maxMessageBytes: 0,
  maxBufferedBytes: 0,
};

/** What the schema says of a bad `size`, before the limits narrow it. */
const SIZE_EXPECTED = `expected an integer 0-${MAX_STREAM_SIZE_BYTES}`;

/**
 * A bad `size`'s message with the bounds in force, whatever was wrong with
 * it: `size=-1` and a size past MAX_MESSAGE_BYTES both say
 * `expected an integer 0-1048576 (MAX_MESSAGE_BYTES)` (the schema alone
 * said 0-67108864 for the first, the newcomer's review).
 */
function streamSizeMessage(message: string, context: QueryContext): string {
  const [largest, setBy] = largestStreamSize(context);
  return message.replace(
    SIZE_EXPECTED,
    `expected an integer 0-${largest} (${setBy})`,
  );
}

/** The largest `/stream` size under these limits, and what sets it. */
function largestStreamSize(context: QueryContext): [number, string] {
  const half = Math.floor(context.maxBufferedBytes / 2);
  if (
    context.maxBufferedBytes > 0 &&
    (context.maxMessageBytes === 0 || half < context.maxMessageBytes)
  ) return [half, "half of MAX_BUFFERED_BYTES"];
  if (context.maxMessageBytes > 0) {
    return [context.maxMessageBytes, "MAX_MESSAGE_BYTES"];
  }
  return [MAX_STREAM_SIZE_BYTES, "64 MiB"];
}

/**
 * Parses the query options; unknown parameters are listed as ignored. A known
 * option given twice, with a bad value, or on an endpoint it does not apply
 * to is refused with 400, naming the option and what is allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEchoQuery } from "./parse_options.ts";
 * const parsed = parseEchoQuery(new URLSearchParams("delay=5&EIO=4"));
 * assert.deepEqual(parsed, { query: { delay: 5 }, ignored: ["EIO"] });
 * const refused = parseEchoQuery(new URLSearchParams("delay=soon"));
 * assert.equal("status" in refused && refused.status, 400);
 * const notHere = parseEchoQuery(new URLSearchParams("count=5"));
 * assert.equal("status" in notHere && notHere.status, 400);
 * ```
 */
export function parseEchoQuery(
  params: URLSearchParams,
  context: QueryContext = ECHO_ENDPOINT,
): ParsedQuery | Refusal {
  const known: Record<string, string | string[]> = {};
  const ignored = new Set<string>();
  for (const [name, value] of params) {
    if (!Object.hasOwn(ECHO_OPTION_HELP, name)) {
      ignored.add(name);
      continue;
    }
    const before = known[name];
    known[name] = before === undefined
      ? value
      : [...(Array.isArray(before) ? before : [before]), value];
  }
  const result = echoQuerySchema().safeParse(known);
  if (!result.success) {
    return badOptions(
      result.error.issues.map((issue) => {
        const option = String(issue.path[0] ?? "query");
        return {
          option,
          message: option === "size" && context.stream
            ? streamSizeMessage(issue.message, context)
            : issue.message,
        };
      }),
      context.room ? ROOM_OPTIONS : undefined,
    );
  }
  const query = result.data;
  const misplaced = [];
  const room: readonly string[] = ROOM_OPTIONS;
  for (const option of Object.keys(query) as Array<keyof EchoQuery>) {
    if (query[option] === undefined) continue;
    if (context.room && !room.includes(option)) {
      misplaced.push({ option, message: "does not apply to /room/NAME" });
    } else if (!context.room && room.includes(option)) {
      misplaced.push({ option, message: "only applies to /room/NAME" });
    }
  }
  if (context.room) {
    if (misplaced.length > 0) return badOptions(misplaced, ROOM_OPTIONS);
    return { query, ignored: [...ignored] };
  }
  if (!context.stream) {
    for (const option of STREAM_OPTIONS) {
      if (query[option] !== undefined) {
        misplaced.push({ option, message: "only applies to /stream" });
      }
    }
  } else {
    const empties = maxEmptyStreamMessages(context.maxBufferedBytes);
    if ((query.size ?? 0) > largestStreamSize(context)[0]) {
      misplaced.push({
        option: "size",
        message: streamSizeMessage(SIZE_EXPECTED, context),
      });
    } else if (query.size === 0 && (query.count ?? 10) > empties) {
      misplaced.push({
        option: "count",
        message:
          `expected an integer 1-${empties} with size=0: the server cannot see whether empty messages were read, so no more may wait unread (MAX_BUFFERED_BYTES, less a frame's margin, / 600 bytes each)`,
      });
    }
  }
  if (misplaced.length > 0) return badOptions(misplaced);
  return { query, ignored: [...ignored] };
}

/**
 * The 400 for bad options: one line per problem, then the help of the
 * endpoint's options (`only`; every option unless told).
 */
function badOptions(
  problems: Array<{ option: string; message: string }>,
  only?: readonly (keyof typeof ECHO_OPTION_HELP)[],
): Refusal {
  const lines = problems.map(({ option, message }) =>
    `Invalid option "${option}": ${message}`
  );
  const help = Object.entries(ECHO_OPTION_HELP)
    .filter(([name]) => only === undefined || only.some((o) => o === name))
    .map(([name, text]) => `  ${name}: ${text}`);
  return refusal("bad_options", {
    detail: `${lines.join("\n")}\n\nOptions:\n${help.join("\n")}\n`,
  });
}
