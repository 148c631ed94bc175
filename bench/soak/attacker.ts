/**
 * The main thread's handle on the attacker worker (`attacker_worker.ts`):
 * asks it to run one hostile phase and waits for its counts.
 *
 * @module
 */
import type { Counts } from "./shared.ts";

/** Main thread → worker. */
export type ToAttacker =
  | {
    type: "run";
    phase: string;
    cycle: number;
    port: number;
    holdMs: number;
  }
  | { type: "abort" };

/** Worker → main thread. */
export interface FromAttacker {
  type: "done";
  phase: string;
  cycle: number;
  counts: Counts;
  /** Extra figures of a phase (HEAD /sse: the probe statuses). */
  detail: Record<string, unknown>;
}

/** If the worker fails it never reports: a phase is given up this long after the stop. */
const GIVE_UP_AFTER_STOP_MS = 15_000;

/** The attacker worker, one phase at a time. */
export class Attacker {
  readonly #worker = new Worker(
    new URL("./attacker_worker.ts", import.meta.url),
    { type: "module", name: "soak-attacker" },
  );
  readonly #stop: AbortSignal;
  #onDone: ((message: FromAttacker) => void) | undefined;
  /** The worker's uncaught error, if it failed. */
  error: string | undefined;

  /** `onError` is called if the worker fails; `stop` aborts the running phase. */
  constructor(stop: AbortSignal, onError: (message: string) => void) {
    this.#stop = stop;
    this.#worker.onmessage = (event: MessageEvent<FromAttacker>) =>
      this.#onDone?.(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.error = event.message;
      onError(event.message);
    };
    stop.addEventListener("abort", () => this.abort());
  }

  /** Ends the running phase now (its clients leave). */
  abort(): void {
    this.#worker.postMessage({ type: "abort" } satisfies ToAttacker);
  }

  /**
   * Runs phase `phase` for `holdMs`; resolves with what its clients saw, or
   * undefined if the worker did not report within 15 s of the stop.
   */
  run(
    phase: string,
    cycle: number,
    port: number,
    holdMs: number,
  ): Promise<FromAttacker | undefined> {
    const { promise, resolve } = Promise.withResolvers<FromAttacker>();
    this.#onDone = resolve;
    this.#worker.postMessage(
      { type: "run", phase, cycle, port, holdMs } satisfies ToAttacker,
    );
    const givenUp = new Promise<undefined>((resolve) =>
      this.#stop.addEventListener(
        "abort",
        () => setTimeout(() => resolve(undefined), GIVE_UP_AFTER_STOP_MS),
        { once: true },
      )
    );
    return Promise.race([promise, givenUp]);
  }

  /** Stops the worker. */
  terminate(): void {
    this.#worker.terminate();
  }
}
