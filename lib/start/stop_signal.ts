/**
 * SIGINT and SIGTERM for `deno serve --parallel`, heard by every worker:
 * `serve.ts` imports this module first, for its side effect, so each worker
 * listens from the start of its evaluation.
 *
 * Why: Deno hands a signal only to the listeners that exist when it comes
 * (`ext/signals`), and each worker starts on its own thread. A SIGTERM that
 * came while some workers were still loading was heard by the others, which
 * stopped, while the late ones started their servers and kept the process up
 * for good (`deno task serve`, four workers, SIGTERM right after the page
 * line: 4 of 4 still up 15 s later; one worker heard it, three never did).
 * Deno's own `deno serve` listener, which shuts the worker's server down, is
 * added only after the worker's module has run.
 *
 * So a worker that hears the signal says so on {@link STOP_CHANNEL} and
 * raises the same signal at the process again every {@link RAISE_EVERY_MS}
 * until every worker has said it heard it (or {@link RAISE_FOR_MS} passed);
 * a worker that heard it before its module had run raises it once more
 * after, for Deno's listener. The listeners here stay for the worker's life
 * and act once: their poll does not hold the process (Deno unrefs it), and
 * while one stays a raise reaches no default handler, which would end the
 * process at once and cut the other workers' drains. A second SIGTERM thus
 * does not end it early; SHUTDOWN_GRACE_SECONDS bounds the stop.
 *
 * @module
 */
import * as z from "zod/mini";
import { lazy } from "../lazy.ts";

/** The signals that stop the service. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;
/** The `BroadcastChannel` on which workers say they heard a stop signal. */
export const STOP_CHANNEL = "ws-echo-stop-signal";
/** How often a worker raises the signal again while some have not heard it, in ms. */
export const RAISE_EVERY_MS = 200;
/** How long it keeps raising at most, in ms (a worker that never starts). */
export const RAISE_FOR_MS = 10_000;

/** What a worker says on {@link STOP_CHANNEL}: its id, once it has heard. */
interface Heard {
  heard: string;
}

/** {@link Heard}'s shape, built at the first message heard. */
const heardMessage = lazy((): z.ZodMiniType<Heard> =>
  z.object({ heard: z.string() })
);

const self = crypto.randomUUID();
/** The first stop signal this worker heard. */
let heard: Deno.Signal | undefined;
/** How many workers the process has, once the module has run. */
let workers: number | undefined;
let raising = false;
const others = new Set<string>();
const stops = new Set<(signal: Deno.Signal) => void>();
const channel = new BroadcastChannel(STOP_CHANNEL);

channel.onmessage = (event: MessageEvent<unknown>) => {
  // Another worker's word: anything but `{ heard: id }` is ignored.
  const said = heardMessage().safeParse(event.data);
  if (!said.success) return;
  const from = said.data.heard;
  if (others.has(from)) return;
  others.add(from);
  // It may have started after this worker said so: say it again.
  if (heard !== undefined) channel.postMessage({ heard: self });
};

for (const signal of STOP_SIGNALS) {
  Deno.addSignalListener(signal, () => {
    if (heard !== undefined) return;
    heard = signal;
    channel.postMessage({ heard: self } satisfies Heard);
    for (const stop of stops) stop(signal);
    raiseUntilAllHeard();
  });
}

function raiseUntilAllHeard(): void {
  if (heard === undefined || workers === undefined || raising) return;
  raising = true;
  const signal = heard;
  const total = workers;
  const since = performance.now();
  const allHeard = () =>
    others.size + 1 >= total || performance.now() - since > RAISE_FOR_MS;
  if (allHeard()) return channel.close();
  const timer = setInterval(() => {
    if (!allHeard()) return Deno.kill(Deno.pid, signal);
    clearInterval(timer);
    channel.close();
  }, RAISE_EVERY_MS);
}

/**
 * Called at the end of the worker's main module, with `stop`, which runs
 * with the signal once when the first stop signal is heard (in a microtask if it was heard
 * while the module ran), and the number of workers of the process
 * (`serveWorkers`). A signal heard while the module ran is raised once more
 * (a timer: after Deno has added its own listener).
 */
export function onStopSignal(
  stop: (signal: Deno.Signal) => void,
  workerCount: number,
): void {
  workers = workerCount;
  if (heard === undefined) stops.add(stop);
  else {
    const signal = heard;
    queueMicrotask(() => stop(signal));
    setTimeout(() => Deno.kill(Deno.pid, signal), 0);
  }
  raiseUntilAllHeard();
}
