/**
 * Descriptors held from start-up so that what the process starts when it
 * is out of descriptors still gets some:
 *
 * - the RSS watchdog's thread under `deno task start` (`rss_watchdog.ts`):
 *   Deno 2.9.6 panics, ending the process, when a `Worker`'s runtime gets
 *   no descriptor (`runtime/tokio_util.rs:66`, its tokio runtime's
 *   `build().unwrap()`: Too many open files). Not under `deno task serve`:
 *   while one worker makes its thread the others accept, and took the
 *   released descriptors (`tests/start/watchdog_serve_start_test.ts`), so
 *   there each worker makes its thread before any serves
 *   (`watchdog_arming.ts`, `workers_ready.ts`);
 * - `ss`, which the overload watch runs to read the kernel's count
 *   (`socket_bytes.ts`) and to abort sockets (`socket_abort.ts`): its pipes
 *   failed with EMFILE under `prlimit --nofile=256` while reset upgrades
 *   held the descriptors, the watch judged by timing alone and struck a
 *   newcomer (an attack review of reset upgrades, issue #20). Under
 *   `deno task serve` another worker's accept can take one in the moment
 *   between {@link DescriptorReserve.lend}'s release and the spawn: that
 *   spawn then fails as it would with no reserve (an error its caller
 *   handles, no panic: the signal handling a spawn needs is set up at
 *   start-up, `stop_signal.ts`), and the next one is lent again.
 *
 * Loopback listeners on port 0 (the `net` permission the service has
 * anyway); none where listening is refused, as on Deno Deploy.
 *
 * @module
 */

/**
 * How many descriptors are held for the watchdog's thread: a `Worker`'s
 * runtime keeps six and opens one more at a time while it is made (strace,
 * `makeWatchdogThread` in `rss_watchdog.ts`); the rest is room.
 */
export const RESERVED_DESCRIPTORS = 8;

/**
 * How many descriptors are held for `ss`: Deno took 5 free ones to spawn it
 * with its output piped (`prlimit --nofile=64` with every other one taken,
 * `tests/fixtures/ss_without_descriptors.ts`: 4 failed with EMFILE, 5
 * ran), once the process's signal handling is set up (`main.ts` does at
 * start-up; the first spawn sets it up otherwise, taking more and, out of
 * descriptors, panicking in Deno's ext/signals).
 */
export const SS_DESCRIPTORS = 8;

/**
 * Holds descriptors until {@link DescriptorReserve.release}.
 *
 * @example
 * ```ts
 * import { DescriptorReserve } from "./descriptor_reserve.ts";
 * const reserve = new DescriptorReserve(2);
 * reserve.release();
 * ```
 */
export class DescriptorReserve {
  #held: Deno.Listener[] = [];

  readonly #count: number;
  #released = false;

  /** @param count How many descriptors to hold. @default {RESERVED_DESCRIPTORS} */
  constructor(count: number = RESERVED_DESCRIPTORS) {
    this.#count = count;
    this.#hold();
  }

  /** How many it holds now. */
  get held(): number {
    return this.#held.length;
  }

  /** Closes every held descriptor for good, for whatever opens next. */
  release(): void {
    this.#released = true;
    this.#free();
  }

  /**
   * Runs `spawn` with the held descriptors free for it, then holds what is
   * free again: a child's pipes are made within `spawn` (Deno spawns
   * synchronously, `output()` included), and nothing else of this process
   * opens a descriptor in between, as the event loop does not turn.
   */
  lend<T>(spawn: () => T): T {
    this.#free();
    try {
      return spawn();
    } finally {
      this.#hold();
    }
  }

  /**
   * {@link lend} for a child that is awaited: its pipes hold descriptors
   * until it ends, so what they took is held again once it has.
   */
  async lendAwaited<T>(spawn: () => Promise<T>): Promise<T> {
    try {
      return await this.lend(spawn);
    } finally {
      this.#hold();
    }
  }

  #free(): void {
    for (const listener of this.#held) listener.close();
    this.#held = [];
  }

  #hold(): void {
    try {
      while (!this.#released && this.#held.length < this.#count) {
        this.#held.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
      }
    } catch {
      // Held what it could: none without the permission, fewer when short.
    }
  }
}
