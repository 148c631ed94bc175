/**
 * Echoes waiting for room in the memory budget. A client that has read all
 * it was sent is not behind, and the echo of its message costs nothing the
 * message did not cost already: the bytes are in the process from the
 * moment Deno read them, and Deno's copy goes to the kernel at the next
 * turn for a client that reads. So when the budget has no room for such an
 * echo, it waits a little for the echoes of other clients to drain, rather
 * than its client being closed: 40 clients each sending a 1 MiB message at
 * once hold about 120 MiB for a moment (twice the message in Deno's read
 * buffer, `heldReadBytes`, and the echo), 80 MiB once the echoes are read.
 * Closing the ones that did not fit closed them all in turn (an attack
 * review, `bench/attacks/quick_up.sh`: 32 such clients, every one closed
 * 1013).
 *
 * Each waiting connection is asked to retry every {@link RETRY_MS}, the
 * charges re-read first; one that has waited {@link WAIT_FOR_ROOM_MS}
 * makes room (`MemoryGuard.refuses`): the largest holders not yet shed are
 * closed for what it lacks, itself too when it is among them, and it waits
 * for them to go; at {@link GIVE_UP_MS} its own client is shed, as before.
 * One message may wait per connection (`EchoConnection`: a client that
 * sends another meanwhile is shed, unless the kernel says it acknowledges
 * what it is sent: then the room is made at once, `peer_acks.ts`); a
 * client that is behind does not wait
 * unless its backlog drains (`UnreadEchoes.reading`).
 *
 * @module
 */
import { type Cancel, every } from "../core_timer.ts";

/**
 * How often waiting echoes retry, in ms: an honest client's echo drains
 * within a turn or two of the loop, so the wait is short when there is room
 * to come.
 */
export const RETRY_MS = 10;

/**
 * How long an echo waits for room before the largest holders are shed to
 * make it, in ms: longer than a held loop's usual turn on a busy machine,
 * short enough that a client that never reads gains little by it.
 */
export const WAIT_FOR_ROOM_MS = 1000;

/**
 * How long an echo waits in all before its own client is shed, in ms:
 * room made by shedding comes once the shed have gone, and a client that
 * does not read is aborted about 1.5 s after its shed (`held_sockets.ts`).
 */
export const GIVE_UP_MS = 3000;

/** A connection with echoes waiting for room. */
export interface WaitingForRoom {
  /**
   * Sends what waits, as far as the budget lets.
   *
   * @param waitedMs How long the oldest echo has waited: from
   * {@link WAIT_FOR_ROOM_MS} on it makes room by shedding, from
   * {@link GIVE_UP_MS} on its own client is shed.
   * @returns True once nothing waits any more (sent, or the connection
   * closed).
   */
  retry(waitedMs: number): boolean;
}

/** Options for {@link BudgetWaits}. */
export interface BudgetWaitsOptions {
  /** Re-reads the charges before the retries. */
  recount: () => void;
  /** The clock, in ms. */
  now: () => number;
}

/** The connections whose echoes wait for room, oldest first. */
export class BudgetWaits {
  readonly #options: BudgetWaitsOptions;
  /** Each waiting connection and when it began waiting. */
  readonly #waiting = new Map<WaitingForRoom, number>();
  /** Stops the retries: armed only while something waits. */
  #stop: Cancel | undefined;

  constructor(options: BudgetWaitsOptions) {
    this.#options = options;
  }

  /** How many connections wait. */
  get size(): number {
    return this.#waiting.size;
  }

  /** `connection` has an echo waiting: it retries until {@link delete}. */
  add(connection: WaitingForRoom): void {
    if (this.#waiting.has(connection)) return;
    this.#waiting.set(connection, this.#options.now());
    this.#stop ??= every(RETRY_MS, () => this.retry());
  }

  /** `connection` has nothing waiting any more (or closed). */
  delete(connection: WaitingForRoom): void {
    this.#waiting.delete(connection);
    if (this.#waiting.size === 0) this.dispose();
  }

  /**
   * Retries every waiting connection, oldest first, on fresh charges.
   * Runs every {@link RETRY_MS} while any waits; exposed for tests.
   */
  retry(): void {
    if (this.#waiting.size === 0) return this.dispose();
    this.#options.recount();
    const now = this.#options.now();
    for (const [connection, since] of [...this.#waiting]) {
      if (connection.retry(now - since)) {
        this.#waiting.delete(connection);
      }
    }
    if (this.#waiting.size === 0) this.dispose();
  }

  /** Stops the retries (nothing waits, or the server stops). */
  dispose(): void {
    this.#stop?.();
    this.#stop = undefined;
  }
}
