/**
 * One timer for every connection's idle timeout: a sweep checks when each
 * connection last heard from its client. A timer per connection would cost
 * an allocation per handshake and memory per idle connection.
 *
 * @module
 */
import { type Cancel, every } from "../core_timer.ts";

/** A connection the sweep can ask about and close. */
export interface Watched {
  /** `Date.now()` of the client's last message (or the open). */
  readonly lastActiveAt: number;
  /** Closes with the idle-timeout code. */
  closeIdle(): void;
}

/** Closes watched connections silent for longer than `idleMs`. */
export class IdleWatch {
  readonly #idleMs: number;
  readonly #sweepMs: number;
  readonly #watched = new Set<Watched>();
  #stop: Cancel | undefined;

  /**
   * @param idleMs Silence allowed, in ms.
   * @param sweepMs How often to check; a connection is closed at most this
   *   long after its timeout. @default a quarter of `idleMs`, at most 1 s
   */
  constructor(idleMs: number, sweepMs: number = Math.min(1000, idleMs / 4)) {
    this.#idleMs = idleMs;
    this.#sweepMs = sweepMs;
  }

  /** Starts watching; the sweep runs only while something is watched. */
  add(connection: Watched): void {
    this.#watched.add(connection);
    this.#stop ??= every(this.#sweepMs, () => this.#sweep());
  }

  /** Stops watching (on close). */
  delete(connection: Watched): void {
    this.#watched.delete(connection);
    if (this.#watched.size === 0 && this.#stop !== undefined) {
      this.#stop();
      this.#stop = undefined;
    }
  }

  #sweep(): void {
    const silentSince = Date.now() - this.#idleMs;
    for (const connection of this.#watched) {
      if (connection.lastActiveAt <= silentSince) {
        this.delete(connection);
        connection.closeIdle();
      }
    }
  }
}
