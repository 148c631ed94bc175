/**
 * The service's log: one record per event (a request, a refusal, a close),
 * written as a text line (`ws close id=… code=1000 …`) or, with
 * `LOG_FORMAT=json`, one JSON object per line with the same fields. Lines are
 * collected and written to stdout in one write per batch, so a burst of
 * closes costs one syscall per batch rather than one per line.
 *
 * @module
 */
import { after, type Cancel } from "./core_timer.ts";

/**
 * One log event. `event` names it (`ws_close`, `ws_refused`, `sse_close`,
 * `http`, `start`, `error`); the other fields depend on it: `id`, `ip`,
 * `code`, `reason`, `limit`, `durationMs`, `messages`, `bytesIn`, `bytesOut`,
 * `status`, `path`.
 */
export interface LogRecord {
  event: string;
  [field: string]: string | number | boolean | undefined;
}

/** Writes one log record. */
export type Log = (record: LogRecord) => void;

/** How records become lines: LOG_FORMAT. */
export type LogFormat = "text" | "json";

/** How long a line may wait before its batch is written, in ms. */
export const LOG_FLUSH_MS = 50;

/** Characters that end, split or colour a line in some viewer: quoted. */
const UNSAFE = /[\s"=\p{Cc}\u2028\u2029]/u;

/**
 * JSON text with DEL, the C1 controls and the Unicode line separators
 * escaped too; `JSON.stringify` escapes only the controls below U+0020.
 */
function escapeJson(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function quote(text: string): string {
  return escapeJson(JSON.stringify(text));
}

/**
 * The longest a client's own text (`method`, `path`, `origin`) is logged, in UTF-16
 * code units: a request line may carry tens of KiB of path (60 KB measured
 * in the attack review), and a stranger repeating it wrote 39.5 MB of log in
 * 10 s; a 60 KB method name, 60 MB in 4 s (stranger23: any token is a
 * method to Deno). Longer text is cut and ends with `…(+N)`, N the code
 * units left out.
 */
export const MAX_CLIENT_TEXT = 256;

/** Fields that carry a client's own text, clipped to {@link MAX_CLIENT_TEXT}. */
const CLIENT_TEXT = new Set(["method", "path", "origin"]);

/**
 * `record` with each client text field clipped to {@link MAX_CLIENT_TEXT}
 * (the same record when none is longer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clipClientText } from "./log.ts";
 * const { path } = clipClientText({ event: "http", path: "/" + "a".repeat(300) });
 * assert.equal(path, "/" + "a".repeat(255) + "…(+45)");
 * ```
 */
export function clipClientText(record: LogRecord): LogRecord {
  let clipped: LogRecord | undefined;
  for (const key of CLIENT_TEXT) {
    const value = record[key];
    if (typeof value !== "string" || value.length <= MAX_CLIENT_TEXT) continue;
    clipped ??= { ...record };
    clipped[key] = `${value.slice(0, MAX_CLIENT_TEXT)}…(+${
      value.length - MAX_CLIENT_TEXT
    })`;
  }
  return clipped ?? record;
}

/** Fields whose text values are always quoted, since people write them freely. */
const QUOTED = new Set(["origin", "message", "error"]);

/**
 * Field names already turned to snake_case: every `ws_close` line has the
 * same nine, and a regular expression per field made a `ws_close` line cost
 * 1.0 µs instead of 0.35 (`deno bench`, fastest iteration, BENCHMARKS.md
 * fourteenth round). Names come from this service's code, but the cache
 * stops growing at {@link MAX_SNAKE_NAMES} whatever a record holds.
 */
const SNAKE_NAMES = new Map<string, string>();
const MAX_SNAKE_NAMES = 256;

function snakeCase(key: string): string {
  let name = SNAKE_NAMES.get(key);
  if (name === undefined) {
    name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (SNAKE_NAMES.size < MAX_SNAKE_NAMES) SNAKE_NAMES.set(key, name);
  }
  return name;
}

/**
 * A record as one text line: the event's words, then `key=value` pairs with
 * snake_case keys, `durationMs` as `duration=12ms`, and free text quoted
 * (a close reason is free text; a refusal reason is a token).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatText } from "./log.ts";
 * assert.equal(
 *   formatText({ event: "ws_close", id: "a-1", code: 1000, reason: "bye", durationMs: 5 }),
 *   'ws close id=a-1 code=1000 reason="bye" duration=5ms',
 * );
 * ```
 */
export function formatText(record: LogRecord): string {
  let line = record.event.replaceAll("_", " ");
  const closing = record.event.endsWith("_close");
  for (const key in record) {
    const value = record[key];
    if (key === "event" || value === undefined) continue;
    if (key === "durationMs") {
      line += ` duration=${value}ms`;
      continue;
    }
    const name = snakeCase(key);
    const text = typeof value === "string" &&
        (QUOTED.has(key) || (closing && key === "reason") || value === "" ||
          UNSAFE.test(value))
      ? quote(value)
      : String(value);
    line += ` ${name}=${text}`;
  }
  return line;
}

/**
 * A record as one JSON object with the time first, for log collectors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatJson } from "./log.ts";
 * const line = formatJson({ event: "ws_close", code: 1000 }, new Date(0));
 * assert.deepEqual(JSON.parse(line), {
 *   time: "1970-01-01T00:00:00.000Z",
 *   event: "ws_close",
 *   code: 1000,
 * });
 * ```
 */
export function formatJson(record: LogRecord, now: Date = new Date()): string {
  return escapeJson(JSON.stringify({ time: now.toISOString(), ...record }));
}

/** A log that batches lines; `flush()` writes what is waiting, e.g. before exit. */
export interface BatchedLog {
  log: Log;
  flush(): void;
}

/**
 * Batches formatted records for `write` (stdout by default).
 *
 * @param format `text` or `json` (LOG_FORMAT).
 * @param write Receives each batch as UTF-8 bytes.
 */
export function batchedLog(
  format: LogFormat = "text",
  write: (bytes: Uint8Array) => void = writeStdout,
): BatchedLog {
  const encoder = new TextEncoder();
  let lines: string[] = [];
  let cancelFlush: Cancel | undefined;
  const flush = () => {
    cancelFlush?.();
    cancelFlush = undefined;
    if (lines.length === 0) return;
    const text = lines.join("\n") + "\n";
    lines = [];
    write(encoder.encode(text));
  };
  return {
    log(record) {
      record = clipClientText(record);
      lines.push(
        format === "json" ? formatJson(record) : formatText(record),
      );
      // A core timer (`core_timer.ts`): it keeps the process alive for at
      // most LOG_FLUSH_MS, and the lines get written.
      cancelFlush ??= after(LOG_FLUSH_MS, flush);
    },
    flush,
  };
}

/** True once stdout's reader has gone: later batches are dropped. */
let stdoutGone = false;

/**
 * Writes to stdout. When whatever read stdout has closed it (a supervisor
 * stopping, a test cancelling the pipe), the write fails with EPIPE: the
 * lines are dropped rather than thrown, since a throw from the flush timer
 * would end the service and one from the shutdown flush would skip
 * `Deno.exit(0)` (measured: exit code 1, "Uncaught (in promise) BrokenPipe").
 */
function writeStdout(bytes: Uint8Array): void {
  if (stdoutGone) return;
  try {
    let offset = 0;
    while (offset < bytes.length) {
      offset += Deno.stdout.writeSync(bytes.subarray(offset));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    stdoutGone = true;
  }
}
