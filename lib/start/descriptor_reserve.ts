/**
 * Descriptors held from start-up for the RSS watchdog's thread
 * (`rss_watchdog.ts`): Deno 2.9.6 panics, ending the process, when a
 * `Worker`'s runtime gets no descriptor (`runtime/tokio_util.rs:66`, its
 * tokio runtime's `build().unwrap()`: Too many open files). Loopback
 * listeners on port 0 (the `net` permission the service has anyway); none
 * where listening is refused, as on Deno Deploy.
 *
 * @module
 */

/**
 * How many descriptors are held: a tokio runtime with I/O takes two (epoll
 * and its waker); the rest is room.
 */
export const RESERVED_DESCRIPTORS = 8;

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

  /** @param count How many descriptors to hold. @default {RESERVED_DESCRIPTORS} */
  constructor(count: number = RESERVED_DESCRIPTORS) {
    try {
      for (let i = 0; i < count; i++) {
        this.#held.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
      }
    } catch {
      // Held what it could: none without the permission, fewer when short.
    }
  }

  /** Closes every held descriptor, for whatever opens next. */
  release(): void {
    for (const listener of this.#held) listener.close();
    this.#held = [];
  }
}
