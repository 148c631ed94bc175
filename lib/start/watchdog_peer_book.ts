/**
 * What the main loop told its RSS watchdog thread of its connections
 * (`WatchdogPeers`, `watchdog_orders.ts`), kept as the thread needs it:
 * which are open, what the app saw of each, which have no complete message
 * yet, and how much payload the app saw in all. Under `deno serve
 * --parallel` each worker's thread keeps its own worker's book only: the
 * threads' sharing their books over a BroadcastChannel showed no survival
 * gain in runs alternating with and without it (issue #20; docs/limits.md,
 * "One worker's word").
 * Self-contained (no import or outer name): the thread runs from source
 * text and `rss_watchdog.ts` gives it this as text.
 *
 * @module
 */
import type { WatchdogPeers } from "./watchdog_orders.ts";

/** One worker's connections as its main loop told them (`peerKey` form). */
export interface PeerBook {
  /** Applies one update: `closed` forgotten, then `opened`, then `seen`. */
  apply(update: WatchdogPeers): void;
  /** Whether `peer` is open, as told. */
  has(peer: string): boolean;
  /** Payload the app saw of `peer`, in bytes, while it has no complete message; undefined after one (or unknown). */
  unseen(peer: string): number | undefined;
  /** Payload the app saw of `peer` in all, in bytes (undefined: none told). */
  seen(peer: string): number | undefined;
  /** A copy of {@link seen} for every peer told. */
  seenAll(): Map<string, number>;
  /** Payload the app saw in all, as told, in bytes: grows only while messages reach the app. */
  told(): number;
}

/**
 * A new, empty {@link PeerBook}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerBook } from "./watchdog_peer_book.ts";
 * const book = peerBook();
 * book.apply({ opened: ["127.0.0.2:40000", "127.0.0.3:40001"], closed: [] });
 * book.apply({ opened: [], closed: [], seen: [["127.0.0.2:40000", 70000, false]] });
 * assert.equal(book.unseen("127.0.0.2:40000"), 70000);
 * assert.equal(book.unseen("127.0.0.3:40001"), 0);
 * book.apply({ opened: [], closed: [], seen: [["127.0.0.2:40000", 1048576, true]] });
 * assert.equal(book.unseen("127.0.0.2:40000"), undefined); // a message came
 * assert.equal(book.told(), 1048576);
 * book.apply({ opened: [], closed: ["127.0.0.2:40000"] });
 * assert.ok(!book.has("127.0.0.2:40000"));
 * assert.equal(book.told(), 1048576); // what was seen stays seen
 * ```
 */
export function peerBook(): PeerBook {
  const open = new Set<string>();
  const unseen = new Map<string, number>();
  const seen = new Map<string, number>();
  let told = 0;
  return {
    apply({ opened, closed, seen: news = [] }) {
      for (const peer of closed) {
        open.delete(peer);
        unseen.delete(peer);
        seen.delete(peer);
      }
      for (const peer of opened) {
        open.add(peer);
        unseen.set(peer, 0);
      }
      for (const [peer, bytes, complete] of news) {
        told += Math.max(0, bytes - (seen.get(peer) ?? 0));
        seen.set(peer, bytes);
        if (complete) unseen.delete(peer);
        else if (open.has(peer)) unseen.set(peer, bytes);
      }
    },
    has: (peer) => open.has(peer),
    unseen: (peer) => unseen.get(peer),
    seen: (peer) => seen.get(peer),
    seenAll: () => new Map(seen),
    told: () => told,
  };
}
