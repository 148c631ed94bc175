/**
 * Holds each `deno serve --parallel` worker back from serving until every
 * worker of the process has made what it must make while no worker
 * accepts: the RSS watchdog's thread, whose runtime takes descriptors
 * (`makeWatchdogThread`, `rss_watchdog.ts`). Deno listens for a worker
 * once its module has run, and the workers share the process's
 * descriptors: a worker that made its thread while another accepted could
 * find none left, and Deno then panics, ending the process.
 *
 * Each worker says it is ready on a `BroadcastChannel`, which reaches every
 * worker of the process but only those listening when it is posted: so a
 * worker says it again each time it hears one it did not know, and the one
 * that came later hears it then.
 *
 * @module
 */

/** The channel's name; one per process. */
export const WORKERS_READY_CHANNEL = "ws-echo:workers-ready";

/**
 * How long a worker waits for the others, in ms: past it, it serves
 * anyway (a worker that never says so, or a worker count that is not
 * Deno's).
 */
export const WORKERS_READY_WAIT_MS = 10_000;

/** What {@link workersReady} found. */
export interface WorkersReady {
  /** How many other workers said they were ready. */
  heard: number;
  /** True when it stopped waiting at its deadline. */
  timedOut: boolean;
}

/** Options for {@link workersReady}. */
export interface WorkersReadyOptions {
  /** The channel's name (tests use their own). @default {WORKERS_READY_CHANNEL} */
  name?: string;
  /** @default {WORKERS_READY_WAIT_MS} */
  timeoutMs?: number;
}

/**
 * Says this worker is ready, and settles once `workers - 1` others have
 * said so too, or at the deadline. Call it when this worker is ready.
 *
 * @param workers How many workers the process runs (`serveWorkers`).
 * @returns How many it heard, and whether it gave up waiting.
 *
 * @example One worker waits for none
 * ```ts
 * import assert from "node:assert/strict";
 * import { workersReady } from "./workers_ready.ts";
 * assert.deepEqual(await workersReady(1), { heard: 0, timedOut: false });
 * ```
 */
export function workersReady(
  workers: number,
  options: WorkersReadyOptions = {},
): Promise<WorkersReady> {
  if (workers <= 1) return Promise.resolve({ heard: 0, timedOut: false });
  const { promise, resolve } = Promise.withResolvers<WorkersReady>();
  const self = crypto.randomUUID();
  const known = new Set<string>();
  const channel = new BroadcastChannel(options.name ?? WORKERS_READY_CHANNEL);
  const done = (timedOut: boolean) => {
    clearTimeout(timer);
    channel.close();
    resolve({ heard: known.size, timedOut });
  };
  const timer = setTimeout(
    () => done(true),
    options.timeoutMs ?? WORKERS_READY_WAIT_MS,
  );
  channel.onmessage = (event: MessageEvent<unknown>) => {
    const ready = event.data as { worker?: unknown };
    if (typeof ready?.worker !== "string" || known.has(ready.worker)) return;
    known.add(ready.worker);
    // The newcomer was not listening when this one first said it.
    channel.postMessage({ worker: self });
    if (known.size >= workers - 1) done(false);
  };
  channel.postMessage({ worker: self });
  return promise;
}
