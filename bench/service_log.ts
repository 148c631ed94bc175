/**
 * A service process's stdout read as it comes, for the tests and bench/: a
 * pipe nobody reads fills and then blocks the service's log writes, so
 * whoever starts a service (`service.ts`) and keeps it running reads its
 * log, and keeps the lines to look at or to print when something fails.
 *
 * @module
 */
import {
  DEFAULT_PROCESS_TIMEOUT_MS,
  killGroup,
  type RunningService,
  type ServeTaskOptions,
  spawnServeTask,
} from "./service.ts";
import { type WaitOptions, withDeadline } from "./wire.ts";

/** What {@link readServiceLog} keeps of a service's stdout. */
export interface ServiceLog<T> {
  /** Every complete line so far, in order. */
  readonly lines: string[];
  /** The lines that are JSON objects (LOG_FORMAT=json), parsed, in order. */
  readonly records: T[];
  /**
   * Resolves once stdout has ended: the service exited, or its disposal
   * cancelled the read. Fails after `timeoutMs` (default
   * {@link DEFAULT_PROCESS_TIMEOUT_MS}).
   *
   * @throws {Deno.errors.TimedOut} `Timed out after 30000 ms waiting for the end of the service's stdout`
   */
  ended(options?: WaitOptions): Promise<void>;
}

/**
 * Reads the rest of `service`'s stdout (after its start-up line) until it
 * ends, line by line. `T` is what the JSON lines hold (not checked: a test's
 * own service writes them).
 *
 * @example
 * ```ts ignore
 * await using service = await startService({ PORT: "0", LOG_FORMAT: "json" });
 * const log = readServiceLog<LogRecord>(service);
 * await until(() => log.records.some((r) => r.event === "overload_incident"), "an incident");
 * ```
 */
export function readServiceLog<T = Record<string, unknown>>(
  service: Pick<RunningService, "stdout">,
): ServiceLog<T> {
  const lines: string[] = [];
  const records: T[] = [];
  const reading = (async () => {
    let rest = "";
    while (true) {
      const { value, done } = await service.stdout.read();
      if (done) return;
      const parts = (rest + value).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (!line.startsWith("{")) continue;
        try {
          records.push(JSON.parse(line));
        } catch {
          // Not a record after all: kept as a line only.
        }
      }
    }
  })().catch(() => {
    // Cancelled by the service's disposal, or the pipe broke: what was read stays.
  });
  return {
    lines,
    records,
    ended: (options = {}) =>
      withDeadline(
        reading,
        options.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS,
        "the end of the service's stdout",
      ),
  };
}

/** A `deno task serve` read as it runs ({@link readServeTask}). */
export interface ServeTaskRun extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** stdout's complete lines so far, in order. */
  lines: string[];
  /** All of stderr, once the process group has ended. */
  stderr: Promise<string>;
  /**
   * Kills the process group, stops reading stdout and awaits the exit;
   * safe to call twice (disposing calls it). Resolves to stderr's text.
   */
  end(): Promise<string>;
}

/**
 * Spawns `deno task serve` on `port` (`spawnServeTask`) and reads its
 * stdout line by line and its stderr whole, so that neither pipe fills;
 * `end()` or `await using` tears it all down.
 *
 * @example
 * ```ts ignore
 * await using task = readServeTask(8000, { workers: 2 });
 * await until(() => task.lines.some((l) => l.startsWith("ws-echo: page")), "the page line");
 * ```
 */
export function readServeTask(
  port: number,
  options: ServeTaskOptions = {},
): ServeTaskRun {
  const child = spawnServeTask(port, options);
  const stderr = new Response(child.stderr).text();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { lines } = readServiceLog({ stdout });
  let ending: Promise<string> | undefined;
  const end = () =>
    ending ??= (async () => {
      killGroup(child);
      await stdout.cancel();
      await child.status;
      return await stderr;
    })();
  return {
    child,
    lines,
    stderr,
    end,
    async [Symbol.asyncDispose]() {
      await end();
    },
  };
}
