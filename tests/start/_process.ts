/**
 * What the tests that run the service as a process share: reading its
 * stdout with a deadline.
 *
 * @module
 */
import { DEFAULT_PROCESS_TIMEOUT_MS } from "../_server.ts";
import { withDeadline } from "../_client.ts";

/** Reads stdout lines until `found` returns true for one; every read has a deadline. */
export async function readLinesUntil(
  stdout: ReadableStreamDefaultReader<string>,
  found: (line: string, all: string[]) => boolean,
  what: string,
  already: string[] = [],
  timeoutMs = DEFAULT_PROCESS_TIMEOUT_MS,
): Promise<string[]> {
  const lines = [...already];
  let rest = "";
  await withDeadline(
    (async () => {
      if (lines.some((line) => found(line, lines))) return;
      while (true) {
        const { value, done } = await stdout.read();
        if (done) throw new Error(`stdout ended before ${what}`);
        const parts = (rest + value).split("\n");
        rest = parts.pop()!;
        for (const line of parts) {
          lines.push(line);
          if (found(line, lines)) return;
        }
      }
    })(),
    timeoutMs,
    what,
  );
  return lines;
}
