/**
 * Which connections are this process's own, for the RSS watchdog thread
 * (`watchdog_thread.ts`): on a loop held past `FLOOD_HELD_MS` it aborts
 * only those, and `ss` lists every connection of the port, those of the
 * other `deno serve --parallel` workers too. The thread cannot ask the
 * main loop while it is held, so it is told as connections open and
 * close: each change is sent by the end of the turn that made it (one
 * message per turn, however many changed), before the connection's first
 * read can hold the loop. At each sample of the watch ({@link OwnPeers.sample})
 * it also tells what the app has seen of those with no complete message
 * yet (`WatchdogPeers.seen`), for the thread's sweep past MAX_RSS_BYTES.
 *
 * @module
 */
import type { Closable } from "../admission/slots.ts";
import { peerKey } from "./socket_bytes.ts";
import type { WatchdogPeers } from "./watchdog_orders.ts";

/**
 * Collects the peers of the connections opened and closed in one turn and
 * sends them together in a microtask. A connection with no TCP peer (a
 * test's stand-in) is left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnPeers } from "./own_peers.ts";
 * const sent: unknown[] = [];
 * const own = new OwnPeers((update) => sent.push(update));
 * const peer = { transport: "tcp" as const, hostname: "::ffff:127.0.0.2", port: 5 };
 * const activity = () => ({ peer }) as never;
 * own.observe({ close() {}, activity }, true);
 * own.observe({ close() {} }, true);
 * await Promise.resolve();
 * assert.deepEqual(sent, [{ opened: ["127.0.0.2:5"], closed: [] }]);
 * own.observe({ close() {}, activity }, false);
 * await Promise.resolve();
 * assert.deepEqual(sent[1], { opened: [], closed: ["127.0.0.2:5"] });
 * ```
 *
 * @example A connection's first complete message, at the next sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnPeers } from "./own_peers.ts";
 * const sent: unknown[] = [];
 * const own = new OwnPeers((update) => sent.push(update));
 * const peer = { transport: "tcp" as const, hostname: "127.0.0.2", port: 5 };
 * let messages = 0;
 * const activity = () => ({ peer, messages, bytesIn: messages * 40 }) as never;
 * own.observe({ close() {}, activity }, true);
 * own.sample();
 * await Promise.resolve();
 * assert.deepEqual(sent, [{ opened: ["127.0.0.2:5"], closed: [] }]);
 * messages = 1;
 * own.sample();
 * own.sample();
 * await Promise.resolve();
 * assert.deepEqual(sent[1], {
 *   opened: [],
 *   closed: [],
 *   seen: [["127.0.0.2:5", 40, true]],
 * });
 * assert.equal(sent.length, 2);
 * ```
 */
export class OwnPeers {
  #opened: string[] = [];
  #closed: string[] = [];
  #seen: NonNullable<WatchdogPeers["seen"]> = [];
  /**
   * Open connections with no complete message yet: their peer and the
   * payload the app saw last told (messages dropped while closing).
   */
  readonly #waiting = new Map<Closable, { peer: string; bytes: number }>();
  #due = false;
  readonly #send: (update: WatchdogPeers) => void;

  /** @param send Posts one update to the thread. */
  constructor(send: (update: WatchdogPeers) => void) {
    this.#send = send;
  }

  /** The registry's observer (`ConnectionRegistry.observe`). */
  observe = (connection: Closable, open: boolean): void => {
    const peer = connection.activity?.().peer;
    if (!peer) return;
    const key = peerKey(peer.hostname, peer.port);
    (open ? this.#opened : this.#closed).push(key);
    if (open) this.#waiting.set(connection, { peer: key, bytes: 0 });
    else this.#waiting.delete(connection);
    this.#flush();
  };

  /**
   * At each sample of the watch: tells what changed of the connections
   * with no complete message yet (their first complete message, or the
   * payload the app saw), and forgets those that completed one. Reads
   * only those: an honest client leaves them with its first message.
   * Measured: 0.04-0.20 ms a sample for 1,000 silent connections,
   * 0.14-1.7 ms for 10,000 (0.1-1.7% of a core at the watch's 100 ms;
   * `deno run -A bench/own_peers_cost.ts N`, one core, load 11-13).
   */
  sample(): void {
    for (const [connection, told] of this.#waiting) {
      const activity = connection.activity?.();
      if (!activity) continue;
      const complete = activity.messages > 0;
      if (!complete && activity.bytesIn === told.bytes) continue;
      this.#seen.push([told.peer, activity.bytesIn, complete]);
      if (complete) this.#waiting.delete(connection);
      else told.bytes = activity.bytesIn;
    }
    if (this.#seen.length > 0) this.#flush();
  }

  /** Sends what changed in one message at the end of this turn. */
  #flush(): void {
    if (this.#due) return;
    this.#due = true;
    queueMicrotask(() => {
      this.#due = false;
      const update: WatchdogPeers = {
        opened: this.#opened,
        closed: this.#closed,
        ...(this.#seen.length > 0 ? { seen: this.#seen } : {}),
      };
      this.#opened = [];
      this.#closed = [];
      this.#seen = [];
      this.#send(update);
    });
  }
}
