/**
 * One timer for every connection's deadlines: a sweep looks at each
 * connection once a period and closes the ones whose time is up, for the
 * idle timeout (IDLE_TIMEOUT_SECONDS since the client's last message), the
 * open deadline (an upgraded socket that never opens) and the close timeout
 * (a close frame the client never answers). A timer per connection would
 * cost a Node `Timeout` and a cancellation per handshake (about 6% of the
 * server's CPU per handshake, BENCHMARKS.md #23) and memory per idle
 * connection; the sweep costs one look per connection per period, and a
 * deadline is kept to within one period.
 *
 * @module
 */
import { type Cancel, every } from "../core_timer.ts";

/** A connection the sweep looks at until it is deleted (on close). */
export interface Swept {
  /**
   * `Date.now()` of the client's last message (or the open): the sweep
   * calls {@link Swept.closeIdle} once it is older than the idle timeout.
   * Infinity while the idle timeout does not apply (not open yet, closing).
   */
  readonly idleFrom: number;
  /**
   * When the connection's own deadline passes (the open deadline, then the
   * close timeout), in ms since epoch; Infinity for none.
   */
  readonly dueAt: number;
  /** The idle timeout passed: close with its code. */
  closeIdle(): void;
  /** `dueAt` passed. */
  due(): void;
  /** The sweep was disposed with this connection still open (a stop). */
  givenUp?(): void;
}

/** Looks at every added connection each period; see the module comment. */
export class ConnectionSweep {
  readonly #idleMs: number;
  readonly #periodMs: number;
  readonly #swept = new Set<Swept>();
  #stop: Cancel | undefined;

  /**
   * @param idleMs Silence allowed, in ms; 0 turns the idle timeout off.
   * @param periodMs How often to look; a deadline is met at most this late.
   *   @default a quarter of `idleMs`, at most 1 s
   */
  constructor(idleMs: number, periodMs: number = defaultPeriod(idleMs)) {
    this.#idleMs = idleMs > 0 ? idleMs : Infinity;
    this.#periodMs = periodMs;
  }

  /** How often the sweep looks, in ms. */
  get periodMs(): number {
    return this.#periodMs;
  }

  /** Starts looking at `connection`; the sweep runs only while it has some. */
  add(connection: Swept): void {
    this.#swept.add(connection);
    this.#stop ??= every(this.#periodMs, () => this.sweep(Date.now()));
  }

  /** Stops looking (on close). */
  delete(connection: Swept): void {
    this.#swept.delete(connection);
    if (this.#swept.size === 0 && this.#stop !== undefined) {
      this.#stop();
      this.#stop = undefined;
    }
  }

  /**
   * Stops looking at every connection (on shutdown, once the grace is
   * over): a connection whose upgrade the client reset never closes, and
   * the sweep's timer would hold the process until its open deadline. Each
   * connection still here is told it was given up (its close unanswered).
   */
  dispose(): void {
    for (const connection of this.#swept) connection.givenUp?.();
    this.#swept.clear();
    this.#stop?.();
    this.#stop = undefined;
  }

  /** One look at every connection, as of `now` (ms since epoch). */
  sweep(now: number): void {
    const silentSince = now - this.#idleMs;
    for (const connection of this.#swept) {
      if (connection.dueAt <= now) connection.due();
      else if (connection.idleFrom <= silentSince) connection.closeIdle();
    }
  }
}

function defaultPeriod(idleMs: number): number {
  return idleMs > 0 ? Math.min(1000, idleMs / 4) : 1000;
}
