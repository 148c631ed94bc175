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

/** Longest `delay`, in milliseconds. */
export const MAX_DELAY_MS = 10_000;
/** Largest `close_after`. */
export const MAX_CLOSE_AFTER = 1_000_000;

function integerOption(min: number, max: number) {
  const expected = `an integer ${min}-${max}`;
  const digits = z.string({ error: `expected ${expected}, given once` })
    .check(z.regex(/^\d{1,10}$/, `expected ${expected}`));
  return z.pipe(
    z.pipe(digits, z.transform(Number)),
    z.number().check(
      z.minimum(min, `expected ${expected}`),
      z.maximum(max, `expected ${expected}`),
    ),
  );
}

const flag = z.pipe(
  z.enum(["", "1", "true", "0", "false"], {
    error: "expected no value, 1, true, 0 or false",
  }),
  z.transform((value) => value === "" || value === "1" || value === "true"),
);

/**
 * The query options of `/echo`, `/close` and `/inspect`. Unknown parameters
 * are not part of it: client libraries add their own (`?EIO=4`, cache
 * busters, tokens), and pywebsocket ignores the query, so they are ignored.
 */
export const echoQuerySchema = z.object({
  delay: z.optional(integerOption(0, MAX_DELAY_MS)),
  format: z.optional(
    z.enum(["raw", "json"], { error: "expected raw or json" }),
  ),
  greeting: z.optional(flag),
  close_after: z.optional(integerOption(1, MAX_CLOSE_AFTER)),
  code: z.optional(
    integerOption(1000, 4999).check(z.refine(isSendableCloseCode, {
      error: `expected a close code a server may send: ${SENDABLE_CLOSE_CODES}`,
    })),
  ),
  reason: z.optional(
    z.string({ error: "expected a text, given once" }).check(z.refine(
      (reason) => utf8ByteLength(reason) <= MAX_CLOSE_REASON_BYTES,
      { error: `expected at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8` },
    )),
  ),
}).check(z.superRefine((query, ctx) => {
  for (const key of ["code", "reason"] as const) {
    if (query[key] !== undefined && query.close_after === undefined) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: "only applies together with close_after",
      });
    }
  }
}));

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
export type EchoQuery = z.output<typeof echoQuerySchema>;

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

/** A query whose options parsed: the options, and the parameters ignored. */
export interface ParsedQuery {
  query: EchoQuery;
  /** Parameters that are not options, in order, each once. */
  ignored: string[];
}

/**
 * Parses the query options; unknown parameters are listed as ignored. A known
 * option given twice or with a bad value is refused with 400, naming the
 * option and what is allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEchoQuery } from "./parse_options.ts";
 * const parsed = parseEchoQuery(new URLSearchParams("delay=5&EIO=4"));
 * assert.deepEqual(parsed, { query: { delay: 5 }, ignored: ["EIO"] });
 * const refused = parseEchoQuery(new URLSearchParams("delay=soon"));
 * assert.equal("status" in refused && refused.status, 400);
 * ```
 */
export function parseEchoQuery(
  params: URLSearchParams,
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
  const result = echoQuerySchema.safeParse(known);
  if (result.success) return { query: result.data, ignored: [...ignored] };
  const lines = result.error.issues.map((issue) =>
    `Invalid option "${String(issue.path[0] ?? "query")}": ${issue.message}`
  );
  const help = Object.entries(ECHO_OPTION_HELP).map(([name, text]) =>
    `  ${name}: ${text}`
  );
  return refusal("bad_options", {
    detail: `${lines.join("\n")}\n\nOptions:\n${help.join("\n")}\n`,
  });
}
