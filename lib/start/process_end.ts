/**
 * How the process ends after SIGINT or SIGTERM, for both entry points: once
 * the service has stopped (connections drained or past their grace, log
 * flushed) it ends when nothing is left to do, or {@link EXIT_WAIT_MS} later
 * by `Deno.exit(0)`, whatever still holds the event loop.
 *
 * Why not wait for the loop alone: Deno 2.9's server WebSocket arms a ping
 * timer of half its `idleTimeout` (PING_INTERVAL_SECONDS, so 15 s by default)
 * that holds the loop, and its event loop's error branch (a client that drops
 * TCP without a Close frame) never cancels it (`ext/websocket/01_websocket.js`,
 * `[_eventLoop]`, case 3). One such client made `deno task serve` live 15 s
 * after the drop (14.2 s after SIGTERM in an attack review; 2.1 s with
 * PING_INTERVAL_SECONDS=6) and `deno task start` wait for its 5 s fallback.
 * Why not `Deno.exit` at once: with OTEL_DENO=true it can deadlock flushing
 * metrics (Deno 2.9.6, 2be95a3), and a loop that ends by itself never does.
 *
 * Under `deno serve --parallel` every worker is a thread of one process and
 * `Deno.exit` in one ends them all, so a worker exits only once every worker
 * has said on {@link STOPPED_CHANNEL} that its own stop is done: one that
 * drained at once must not cut another's drain short. A worker that never
 * says so (one still loading) is covered by the deadline each worker arms at
 * the signal.
 *
 * With OpenTelemetry on (OTEL_DENO=true, and always on Deno Deploy)
 * `Deno.exit` can deadlock (`exit_reaper.ts`: `deno task serve` hung 3 of 3
 * runs, killed 30 s on): there a thread armed at the signal sends SIGKILL at
 * the same deadline, so the process still ends within it (exit status 137
 * where Deno's exit hung, 0 where it did not).
 *
 * @module
 */
import { SERVER_STOP_MS } from "./server.ts";
import { armReaper } from "./exit_reaper.ts";
import * as z from "zod/mini";
import type { Config } from "../config.ts";
import type { LogRecord } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { lazy } from "../lazy.ts";

/**
 * How long a stopped process waits for its event loop to empty before
 * `Deno.exit(0)`, in ms. An idle service's loop empties within a few ms of
 * its stop (SIGTERM to exit 0.1-0.3 s for the whole process, measured);
 * Deno Deploy allows 5 s from SIGINT, and the drain takes up to
 * SHUTDOWN_GRACE_SECONDS (3 s by default) before this.
 */
export const EXIT_WAIT_MS = 500;

/**
 * How long after a stop signal the process ends whatever it still waits
 * for, in ms: the drain's SHUTDOWN_GRACE_SECONDS, then at most
 * `SERVER_STOP_MS` for Deno's server, then {@link EXIT_WAIT_MS}. With the
 * default grace of 3 s that is 4.5 s, inside the 5 s Deno Deploy allows
 * after its SIGINT.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopDeadlineMs } from "./process_end.ts";
 * assert.equal(stopDeadlineMs(3), 4500);
 * ```
 */
export function stopDeadlineMs(shutdownGraceSeconds: number): number {
  return shutdownGraceSeconds * 1000 + SERVER_STOP_MS + EXIT_WAIT_MS;
}

/**
 * The log line at a stop signal, so the log says why connections close
 * with 1001 (`stop signal=SIGTERM connections=2 grace_seconds=3`): the
 * signal, the WebSocket connections open (this worker's, under serve), the
 * grace they get to answer the close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopBegan } from "./process_end.ts";
 * assert.deepEqual(
 *   stopBegan("SIGTERM", { connectionsOpen: 2 }, { shutdownGraceSeconds: 3 }),
 *   { event: "stop", signal: "SIGTERM", connections: 2, graceSeconds: 3 },
 * );
 * ```
 */
export function stopBegan(
  signal: Deno.Signal,
  metrics: Pick<Metrics, "connectionsOpen">,
  config: Pick<Config, "shutdownGraceSeconds">,
): LogRecord {
  return {
    event: "stop",
    signal,
    connections: metrics.connectionsOpen,
    graceSeconds: config.shutdownGraceSeconds,
  };
}

/**
 * The log line once the stop is done, before the process ends
 * (`stopped open=0 duration=12ms`): the WebSocket connections still open
 * (clients that did not answer within the grace) and the time since
 * `since` (ms since epoch, the signal).
 */
export function stopEnded(
  since: number,
  metrics: Pick<Metrics, "connectionsOpen">,
): LogRecord {
  return {
    event: "stopped",
    open: metrics.connectionsOpen,
    durationMs: Date.now() - since,
  };
}

/** The `BroadcastChannel` on which serve workers say their stop is done. */
export const STOPPED_CHANNEL = "ws-echo-stopped";

/**
 * What a worker posts on {@link STOPPED_CHANNEL}: its own random id. Built
 * at the first message (zod's schemas cost start-up time; most processes
 * never stop under serve).
 */
const stoppedMessage = lazy(() => z.object({ stopped: z.string() }));

/** Options for {@link ProcessEnd}. */
export interface ProcessEndOptions {
  /** Workers of the process (`deno serve --parallel`); 1 for `deno run`. */
  workers: number;
  /** Ends the process. @default Deno.exit */
  exit?: (code: number) => void;
  /** The wait for the loop to empty, in ms. @default EXIT_WAIT_MS */
  waitMs?: number;
  /**
   * Whether {@link ProcessEnd.begin} also arms a thread that ends the
   * process with SIGKILL at the deadline (`armReaper`): true with
   * OpenTelemetry on (`BootedService.otel`), where `Deno.exit` can
   * deadlock. @default false
   */
  reap?: boolean;
}

/**
 * Ends the process after a stop: naturally when the loop empties, else by
 * `exit(0)` {@link EXIT_WAIT_MS} after every worker has stopped, or at the
 * deadline given to {@link ProcessEnd.begin}. Its timers never hold the
 * process themselves.
 *
 * @example One worker: exit 0 once the wait has passed
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessEnd } from "./process_end.ts";
 * // Its timer does not hold the loop: this one stands for the service's work.
 * const work = setTimeout(() => {}, 10_000);
 * const code = await new Promise<number>((resolve) => {
 *   const end = new ProcessEnd({ workers: 1, exit: resolve, waitMs: 0 });
 *   end.stopped();
 * });
 * clearTimeout(work);
 * assert.equal(code, 0);
 * ```
 */
export class ProcessEnd {
  readonly #workers: number;
  readonly #exit: (code: number) => void;
  readonly #waitMs: number;
  readonly #reap: boolean;
  readonly #self = crypto.randomUUID();
  readonly #stopped = new Set<string>();
  #channel: BroadcastChannel | undefined;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #exited = false;
  #begun = false;

  constructor(options: ProcessEndOptions) {
    this.#workers = options.workers;
    this.#exit = options.exit ?? ((code) => Deno.exit(code));
    this.#waitMs = options.waitMs ?? EXIT_WAIT_MS;
    this.#reap = options.reap ?? false;
  }

  /**
   * Called at the stop signal: ends the process `deadlineMs` from now if it
   * is still up, whatever it is waiting for. Under several workers, starts
   * hearing the others say they stopped.
   */
  begin(deadlineMs: number): void {
    if (this.#begun) return;
    this.#begun = true;
    this.#arm(deadlineMs);
    if (this.#reap && Number.isFinite(deadlineMs)) armReaper(deadlineMs);
    if (this.#workers > 1 && this.#channel === undefined) {
      this.#channel = new BroadcastChannel(STOPPED_CHANNEL);
      this.#channel.onmessage = (event: MessageEvent<unknown>) => {
        // Another worker's word: anything but `{ stopped: id }` is ignored.
        const said = stoppedMessage().safeParse(event.data);
        if (said.success) this.#count(said.data.stopped);
      };
    }
  }

  /** Called once this worker's stop is done and its log flushed. */
  stopped(): void {
    if (this.#stopped.has(this.#self)) return;
    if (this.#workers > 1) {
      if (this.#channel === undefined) this.begin(Infinity);
      this.#channel!.postMessage({ stopped: this.#self });
    }
    this.#count(this.#self);
  }

  #count(worker: string): void {
    if (this.#stopped.has(worker)) return;
    this.#stopped.add(worker);
    if (this.#stopped.size < this.#workers) return;
    // Every worker stopped: the channel no longer holds the loop.
    this.#channel?.close();
    this.#arm(this.#waitMs);
  }

  /** An exit `ms` from now that does not hold the loop. */
  #arm(ms: number): void {
    if (!Number.isFinite(ms)) return;
    // Node's timers, not core_timer.ts's: those hold the loop until they fire.
    const timer = setTimeout(() => {
      if (this.#exited) return;
      this.#exited = true;
      for (const other of this.#timers) clearTimeout(other);
      this.#exit(0);
    }, ms);
    Deno.unrefTimer(timer);
    this.#timers.push(timer);
  }
}
