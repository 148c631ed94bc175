/**
 * The service's log output: lines are collected and written to stdout in one
 * write per batch, so a burst of connections closing costs one syscall per
 * batch rather than one per line (measured in BENCHMARKS.md).
 *
 * @module
 */
import type { Log } from "./connection.ts";

/** How long a line may wait before its batch is written. */
export const LOG_FLUSH_MS = 50;

/** A log that batches lines; `flush()` writes what is waiting, e.g. before exit. */
export interface BatchedLog {
  log: Log;
  flush(): void;
}

/** Batches lines for `write` (stdout by default). */
export function batchedLog(
  write: (bytes: Uint8Array) => void = (bytes) => {
    let offset = 0;
    while (offset < bytes.length) {
      offset += Deno.stdout.writeSync(bytes.subarray(offset));
    }
  },
): BatchedLog {
  const encoder = new TextEncoder();
  let lines: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (lines.length === 0) return;
    const text = lines.join("\n") + "\n";
    lines = [];
    write(encoder.encode(text));
  };
  return {
    log(line) {
      lines.push(line);
      if (timer === undefined) {
        const pending = setTimeout(flush, LOG_FLUSH_MS);
        // Waiting lines never keep the process alive; shutdown flushes them.
        Deno.unrefTimer(pending);
        timer = pending;
      }
    },
    flush,
  };
}
