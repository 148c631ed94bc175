/**
 * The query options of the WebSocket endpoints (`/echo?delay=250&format=json`),
 * read with one zod schema (`option_schema.ts`) before the upgrade and
 * checked against the endpoint they were given to; with no query string the
 * endpoints behave exactly as before: a pure echo.
 *
 * @module
 */
import type { CloseReason } from "../protocol/close_codes.ts";
import { type Refusal, refusal } from "../refusals.ts";
import {
  ECHO_OPTION_HELP,
  type EchoQuery,
  echoQuerySchema,
  MAX_STREAM_SIZE_BYTES,
  ROOM_OPTIONS,
  SIZE_EXPECTED,
  STREAM_OPTIONS,
} from "./option_schema.ts";
import { maxEmptyStreamMessages, type StreamOptions } from "./stream_push.ts";

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

/**
 * A bad `size`'s message with the bounds in force, whatever was wrong with
 * it: `size=-1` and a size past MAX_MESSAGE_BYTES both say
 * `expected an integer 0-1048576 (MAX_MESSAGE_BYTES)` (the schema alone
 * said 0-67108864 for the first, a first-time user's review).
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
