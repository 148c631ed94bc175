/**
 * Which connections are this process's own, for the RSS watchdog thread
 * (`watchdog_thread.ts`): on a loop held past `FLOOD_HELD_MS` it aborts
 * only those, and past MAX_RSS_BYTES it sweeps those of them with no
 * complete message yet. The thread cannot ask the main loop while it is
 * held, so it is told:
 *
 * - Under `deno serve --parallel` `ss` lists every worker's connections of
 *   the port: each open and close is sent by the end of the turn that made
 *   it (one message per turn, however many changed), before the
 *   connection's first read can hold the loop.
 * - Where the process alone owns its listener (`deno task start`,
 *   {@link OwnPeersOptions.portOwned}) every connection of the port is its
 *   own, and the thread counts one it was not told of as opened with
 *   nothing seen: opens and closes wait for the watch's next sample. A
 *   message per turn woke the thread's isolate at every upgrade, about a
 *   third of the service's instructions per handshake (BENCHMARKS.md,
 *   eighteenth round).
 *
 * At each sample ({@link OwnPeers.sample}) it also tells what the app has
 * seen of those with no complete message yet (`WatchdogPeers.seen`), for
 * the thread's sweep past MAX_RSS_BYTES; and by the end of the turn, of
 * any connection whose payload seen grew `SEEN_TELL_BYTES` (32 KiB) since
 * it was last told ({@link OwnPeers.grew}, from `traffic.ts`), for the
 * thread's flood rule: Deno hands pipelined messages to the app without
 * letting the watch's timer run, so a held loop may have read an honest
 * client many messages, all seen by the app (docs/public-internet.md,
 * "The flood rule"). The same path in both modes: one post per turn at
 * most, and per connection one per `SEEN_TELL_BYTES` at most.
 *
 * @module
 */
import type { Closable } from "../admission/slots.ts";
import { peerKey } from "./socket_bytes.ts";
import type { WatchdogPeers } from "./watchdog_orders.ts";

/** Options for {@link OwnPeers}. */
export interface OwnPeersOptions {
  /**
   * Whether every connection of the port is this process's (it owns its
   * listener, `deno task start`): opens and closes are sent at the next
   * sample, not by the end of their turn. Must match the thread's
   * `WatchdogOrders.portOwned`.
   *
   * @default {false}
   */
  portOwned?: boolean;
}

/**
 * Collects the peers of the connections opened and closed and sends them
 * together: in a microtask at the end of their turn, or with
 * {@link OwnPeersOptions.portOwned} at the next sample. One opened and
 * closed before it was sent is not sent at all. A connection with no TCP
 * peer (a test's stand-in) is left out.
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
 * @example Where the process owns the port: at the next sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnPeers } from "./own_peers.ts";
 * const sent: unknown[] = [];
 * const own = new OwnPeers((update) => sent.push(update), { portOwned: true });
 * const at = (port: number) => {
 *   const peer = { transport: "tcp" as const, hostname: "127.0.0.2", port };
 *   return { close() {}, activity: () => ({ peer, messages: 0, bytesIn: 0 }) as never };
 * };
 * const [kept, brief] = [at(5), at(6)];
 * own.observe(kept, true);
 * own.observe(brief, true);
 * own.observe(brief, false);
 * await Promise.resolve();
 * assert.deepEqual(sent, []);
 * own.sample();
 * await Promise.resolve();
 * assert.deepEqual(sent, [{ opened: ["127.0.0.2:5"], closed: [] }]);
 * own.observe(kept, false);
 * own.sample();
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
 *
 * @example A connection's payload seen, by the end of the turn it grew
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnPeers } from "./own_peers.ts";
 * const sent: unknown[] = [];
 * const own = new OwnPeers((update) => sent.push(update), { portOwned: true });
 * const peer = { transport: "tcp" as const, hostname: "127.0.0.2", port: 5 };
 * const piped = { close() {}, activity: () => ({ peer, messages: 9, bytesIn: 9 << 20 }) as never };
 * own.observe(piped, true);
 * own.grew(piped);
 * await Promise.resolve();
 * // Sent as opened too, so that its close is sent.
 * assert.deepEqual(sent, [{
 *   opened: ["127.0.0.2:5"],
 *   closed: [],
 *   seen: [["127.0.0.2:5", 9 << 20, true]],
 * }]);
 * ```
 */
export class OwnPeers {
  /** Opened and not yet sent. */
  readonly #opened = new Set<Closable>();
  /** Closed since the last update, once sent as opened. */
  #closed: Closable[] = [];
  #seen: NonNullable<WatchdogPeers["seen"]> = [];
  /**
   * Open connections with no complete message yet: the payload the app saw
   * last told (messages dropped while closing).
   */
  readonly #waiting = new Map<Closable, number>();
  /** Whose payload seen grew since the last update (`grew`). */
  readonly #grown = new Set<Closable>();
  #due = false;
  readonly #send: (update: WatchdogPeers) => void;
  readonly #perTurn: boolean;

  /**
   * @param send Posts one update to the thread.
   * @param options See {@link OwnPeersOptions}.
   */
  constructor(
    send: (update: WatchdogPeers) => void,
    options: OwnPeersOptions = {},
  ) {
    this.#send = send;
    this.#perTurn = options.portOwned !== true;
  }

  /**
   * The registry's observer (`ConnectionRegistry.observe`). Names no peer:
   * that waits for the update, so a connection opened and closed between
   * two costs two set operations each way.
   */
  observe = (connection: Closable, open: boolean): void => {
    if (!connection.activity) return;
    if (open) {
      this.#opened.add(connection);
      this.#waiting.set(connection, 0);
    } else {
      this.#waiting.delete(connection);
      this.#grown.delete(connection);
      // Never sent: nothing to take back.
      if (this.#opened.delete(connection)) return;
      this.#closed.push(connection);
    }
    if (this.#perTurn) this.#flush();
  };

  /**
   * `PayloadSeen.tell` (`traffic.ts`): `connection`'s payload seen grew
   * `SEEN_TELL_BYTES` since it was last told. Sent by the end of this
   * turn with what the app saw then (and, where the process owns the port,
   * the opens not yet sent, so that its close is sent too).
   */
  grew = (connection: Closable): void => {
    this.#grown.add(connection);
    this.#flush();
  };

  /**
   * At each sample of the watch: tells what changed of the connections
   * with no complete message yet (their first complete message, or the
   * payload the app saw), and forgets those that completed one; with
   * {@link OwnPeersOptions.portOwned}, the opens and closes since the
   * sample before too. Reads only those with no complete message: an
   * honest client leaves them with its first message.
   * Measured: 0.04-0.20 ms a sample for 1,000 silent connections,
   * 0.14-1.7 ms for 10,000 (0.1-1.7% of a core at the watch's 100 ms;
   * `deno run -A bench/own_peers_cost.ts N`, one core, load 11-13).
   */
  sample(): void {
    for (const [connection, told] of this.#waiting) {
      const activity = connection.activity?.();
      if (!activity?.peer) {
        this.#waiting.delete(connection);
        continue;
      }
      const complete = activity.messages > 0;
      if (!complete && activity.bytesIn === told) continue;
      const { hostname, port } = activity.peer;
      this.#seen.push([peerKey(hostname, port), activity.bytesIn, complete]);
      if (complete) this.#waiting.delete(connection);
      else this.#waiting.set(connection, activity.bytesIn);
    }
    if (
      this.#seen.length > 0 || this.#opened.size > 0 ||
      this.#closed.length > 0
    ) this.#flush();
  }

  /** Sends what changed in one message at the end of this turn. */
  #flush(): void {
    if (this.#due) return;
    this.#due = true;
    queueMicrotask(() => {
      this.#due = false;
      for (const connection of this.#grown) {
        const activity = connection.activity?.();
        if (!activity?.peer) continue;
        const { hostname, port } = activity.peer;
        const complete = activity.messages > 0;
        this.#seen.push([peerKey(hostname, port), activity.bytesIn, complete]);
        if (complete) this.#waiting.delete(connection);
      }
      this.#grown.clear();
      const update: WatchdogPeers = {
        opened: named(this.#opened),
        closed: named(this.#closed),
        ...(this.#seen.length > 0 ? { seen: this.#seen } : {}),
      };
      this.#opened.clear();
      this.#closed = [];
      this.#seen = [];
      this.#send(update);
    });
  }
}

/** The peers of `connections` as the thread names them; those with none left out. */
function named(connections: Iterable<Closable>): string[] {
  const peers: string[] = [];
  for (const connection of connections) {
    const peer = connection.activity?.().peer;
    if (peer) peers.push(peerKey(peer.hostname, peer.port));
  }
  return peers;
}
