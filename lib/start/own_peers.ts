/**
 * Which connections are this process's own, for the RSS watchdog thread
 * (`watchdog_thread.ts`): on a loop held past `FLOOD_HELD_MS` it aborts
 * only those, and `ss` lists every connection of the port, those of the
 * other `deno serve --parallel` workers too. The thread cannot ask the
 * main loop while it is held, so it is told as connections open and
 * close: each change is sent by the end of the turn that made it (one
 * message per turn, however many changed), before the connection's first
 * read can hold the loop.
 *
 * @module
 */
import type { Closable } from "../admission/slots.ts";
import { peerKey } from "./socket_bytes.ts";
import type { WatchdogPeers } from "./watchdog_thread.ts";

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
 */
export class OwnPeers {
  #opened: string[] = [];
  #closed: string[] = [];
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
    (open ? this.#opened : this.#closed).push(
      peerKey(peer.hostname, peer.port),
    );
    if (this.#due) return;
    this.#due = true;
    queueMicrotask(() => {
      this.#due = false;
      const update = { opened: this.#opened, closed: this.#closed };
      this.#opened = [];
      this.#closed = [];
      this.#send(update);
    });
  };
}
