/**
 * The bound on ending the process where `Deno.exit` may never return: a
 * thread that sends the process SIGKILL at a deadline.
 *
 * Why: with OpenTelemetry on (OTEL_DENO=true, and always on Deno Deploy)
 * `Deno.exit` first shuts Deno's meter provider down, which waits for a
 * metric export in flight, which waits for this thread's JavaScript to
 * observe the service's gauges: it never can, being inside `Deno.exit`
 * (Deno 2.9: `ext/telemetry/lib.rs`, `before_exit` and `DenoPeriodicReader`;
 * `ext/signals/lib.rs` runs the same `before_exit` on an unhandled SIGTERM,
 * so a second signal does not end it either). Measured with
 * `deno run -A bench/otel_exit.ts` (an observable gauge, export every 200
 * ms, no collector, load 33-40): `Deno.exit(0)` after a 500 ms busy turn
 * hung 2 of 2 (killed 10 s on), after none it ended 2 of 2; with the reaper
 * armed 1 s ahead it ended by SIGKILL 2 of 2 (2.6-3.6 s after the spawn).
 * A stop under load is such a turn. Another thread is not held: its timer
 * fires while this one waits.
 *
 * @module
 */

/** How long arming may block the calling thread, in ms: until it runs. */
export const REAPER_READY_MS = 1000;

/**
 * How long an exit outside a stop (the overload watch's) may take with
 * OpenTelemetry on before the reaper ends it, in ms: the flush of what was
 * recorded, to a collector that answers, takes less.
 */
export const REAP_EXIT_MS = 1000;

/** What the thread is told: when to act, and where it says it is armed. */
interface ReaperOrders {
  /** When to send SIGKILL, in ms since the epoch. */
  at: number;
  /** An Int32Array's buffer: index 0 becomes 1 once armed. */
  ready: SharedArrayBuffer;
}

/** The thread's code (stringified: it runs in a `Worker` of its own). */
function reaperThread(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<ReaperOrders>) => void) | null;
  };
  scope.onmessage = ({ data }) => {
    setTimeout(
      () => Deno.kill(Deno.pid, "SIGKILL"),
      Math.max(0, data.at - Date.now()),
    );
    const ready = new Int32Array(data.ready);
    Atomics.store(ready, 0, 1);
    Atomics.notify(ready, 0);
  };
}

/** An armed reaper; `dispose()` disarms it (tests). */
export interface Reaper {
  dispose(): void;
}

/**
 * Arms a thread that sends this process SIGKILL `inMs` from now, whatever
 * this thread is doing then. Blocks until the thread runs, at most
 * {@link REAPER_READY_MS}. The thread holds the event loop: a process that
 * arms it ends by `Deno.exit` or by the reaper. Needs the `run` permission
 * (`Deno.kill`; the tasks' `run: ["ss", "prlimit"]` suffices).
 *
 * Made only as the process ends, with OpenTelemetry on: with no descriptor
 * left for the thread's runtime Deno 2.9.6 panics instead
 * (`runtime/tokio_util.rs:66`), which ends the process too, with 1 and a
 * panic report on stderr in place of the code asked for.
 *
 * @param inMs When, in ms from now.
 * @returns The reaper, or why it could not start (no `Worker`).
 */
export function armReaper(inMs: number): Reaper | { unavailable: string } {
  const ready = new Int32Array(new SharedArrayBuffer(4));
  let worker: Worker;
  try {
    const url = URL.createObjectURL(
      new Blob([`(${reaperThread.toString()})();`], {
        type: "text/javascript",
      }),
    );
    worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
  } catch (error) {
    return { unavailable: String(error) };
  }
  const orders: ReaperOrders = {
    at: Date.now() + inMs,
    ready: ready.buffer as SharedArrayBuffer,
  };
  worker.postMessage(orders);
  Atomics.wait(ready, 0, 0, REAPER_READY_MS);
  return { dispose: () => worker.terminate() };
}

/**
 * `Deno.exit(code)` for the exits outside a stop (the overload watch's):
 * with OpenTelemetry on (`reap`), a reaper armed {@link REAP_EXIT_MS} ahead
 * ends the process with SIGKILL if the exit hangs.
 */
export function exitWithin(code: number, reap: boolean): never {
  if (reap) armReaper(REAP_EXIT_MS);
  Deno.exit(code);
}
