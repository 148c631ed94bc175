/**
 * What the kernel says of each client's reading: from successive readings of
 * every socket's Send-Q and `bytes_acked` (`ss -tinH`: the kernel-count
 * check's every 2 s, and `lib/start/ack_watch.ts`'s every half second
 * while the memory guard is pressed), whether the client's TCP stack keeps
 * taking what the service writes to it.
 *
 * Deno's `bufferedAmount` says only what Deno handed to the kernel, and the
 * kernel's send buffer takes several MiB of a client that never reads (4 MiB
 * here: `net.ipv4.tcp_wmem`'s maximum), so by that count alone a client that
 * never reads drains like a reader until those buffers are full
 * (`unread_echoes.ts`): beside 128 clients sending 1 MiB messages and never
 * reading, at each refusal of an honest reader's echo 23-58 holders of 1 MiB
 * or more were counted, every one marked as reading (an attack review). What
 * the peer acknowledges is what frees the service's memory. Measured in that
 * case on loopback (`ss -tinoH` every 0.25-1.1 s beside it, load 8-14): a
 * client that never read (receive buffer 4 KiB) acknowledged 32 KiB of its
 * first 1 MiB echo at once, then 8 KiB every 0.4-1.5 s while its Send-Q
 * held about 1 MB (its kernel took a little at each window probe; a zero
 * window, `snd_wnd` left out by `ss`, the retransmit timer on rather than
 * the persist timer); the two slow readers (8 KiB receive buffers, 100 and
 * 150 kB/s) acknowledged steadily, with pauses of up to 0.82 s and zero
 * windows at a third to half of the readings. So
 * neither a zero window nor a pause tells them apart; the pace against what
 * is queued does: at the pace a client acknowledged lately, how long would
 * its Send-Q now take?
 *
 * For each peer (`key` names it as `ss` does: `peerKey` in
 * `lib/start/socket_bytes.ts`):
 * - **acking**: since a reading at least {@link ACKING_SPAN_MS} earlier it
 *   acknowledged {@link ACKED_BYTES} or more, at a pace that takes its
 *   Send-Q within {@link ACKING_DRAIN_MS}; it stays acking while it holds
 *   nothing and is given nothing. The memory guard judges its echoes
 *   beside what the connections not asked to close hold, and makes room
 *   for them at once from holders that are not acking
 *   (`MemoryGuard.refuses`): what is on its way out is not its doing.
 * - **stalled**: its Send-Q held bytes at a reading at least
 *   {@link STALLED_SPAN_MS} earlier and now, and at its pace since then it
 *   would take more than {@link STALLED_DRAIN_MS}: the guard sheds it
 *   before any reader, and its echoes do not wait for room.
 * - otherwise nothing is known, and `unread_echoes.ts`'s own rule decides
 *   alone; so too when the last reading is older than {@link FRESH_MS}, or
 *   there is none (no `ss`: not Linux, no iproute2, Deno Deploy).
 *
 * @module
 */

/**
 * The shortest span over which a client's pace is measured to find it
 * acking, in ms: the next reading, while the guard is pressed.
 */
export const ACKING_SPAN_MS = 500;

/**
 * The shortest span over which a client's pace is measured to find it
 * stalled, in ms: an honest client on a busy machine paused up to 0.82 s
 * (the case above).
 */
export const STALLED_SPAN_MS = 2000;

/**
 * How long the readings a pace is measured over may reach back, in ms.
 */
export const MAX_SPAN_MS = 5000;

/**
 * At most how long a client may take to acknowledge what is queued for it
 * in the kernel, at the pace it acknowledged lately, to be acking, in ms.
 * In the case above, over spans of 0.5 s or more with bytes in Send-Q, the
 * slow readers' queues would have taken 0-6.4 s (once, inside a 0.82 s
 * pause, forever), the pipeliner's 0.1 s, those of clients that never
 * read 14.6 s at least and 91-100 s in the median (1,009 estimates, two
 * runs).
 */
export const ACKING_DRAIN_MS = 10_000;

/**
 * How long a client would take to acknowledge its queue at its pace
 * lately, past which it is stalled, in ms: twice the least the clients of
 * the case above that never read would have taken ({@link
 * ACKING_DRAIN_MS}), over a span long enough for an honest pause.
 */
export const STALLED_DRAIN_MS = 30_000;

/**
 * How much `bytes_acked` must grow over the span for a client to be
 * acking, in bytes: `DRAINED_BYTES` of `unread_echoes.ts`, a few frames.
 */
export const ACKED_BYTES = 4096;

/**
 * How old the last reading may be for anything to be said, in ms: readings
 * run about every half second while the guard is pressed (every few
 * seconds while the loop is held), and stop when it is not.
 */
export const FRESH_MS = 10_000;

/**
 * A peer is kept from its first reading with bytes in its Send-Q or this
 * many acknowledged, in bytes: `BACKLOG_CHECK_BYTES`. Echoes of less to a
 * client that reads go unasked (`unread_echoes.ts`), and with 10,000 idle
 * connections open nothing is kept.
 */
export const KEPT_FROM_BYTES = 64 * 1024;

/** What the kernel says of one client; undefined: nothing known. */
export type KernelSaid = "stalled" | "acking";

/** One socket's Send-Q and `bytes_acked`, as `SocketCounts.queues` gives them. */
export interface AckReading {
  sendQ: number;
  acked: number;
}

/** One reading of one peer, at `at` (ms, `performance.now()`). */
interface Seen extends AckReading {
  at: number;
}

/** Where the kernel's readings are kept; connections ask {@link said}. */
export interface PeerAckBook {
  /** What the kernel says of `peer`'s client now (ms, `performance.now()`). */
  said(peer: Deno.NetAddr, now: number): KernelSaid | undefined;
}

/** {@link PeerAckBook} filled from readings ({@link update}). */
export class PeerAcks implements PeerAckBook {
  readonly #key: (hostname: string, port: number) => string;
  /** Each peer's readings within {@link MAX_SPAN_MS}, oldest first. */
  readonly #seen = new Map<string, Seen[]>();
  /** What was said of each peer at the last reading. */
  readonly #said = new Map<string, KernelSaid>();
  /** When the last reading was made; -Infinity before. */
  #readAt = -Infinity;

  /**
   * @param key Names a peer as the readings do (`peerKey` of
   * `lib/start/socket_bytes.ts`).
   */
  constructor(key: (hostname: string, port: number) => string) {
    this.#key = key;
  }

  /**
   * One reading made at `at` (ms, `performance.now()`): every socket's
   * Send-Q and `bytes_acked` by peer. Peers not in it are forgotten (a
   * port may be another connection's next time).
   */
  update(queues: ReadonlyMap<string, AckReading>, at: number): void {
    // A reading that began before the last one ended after it.
    if (at <= this.#readAt) return;
    for (const key of this.#seen.keys()) {
      if (queues.has(key)) continue;
      this.#seen.delete(key);
      this.#said.delete(key);
    }
    for (const [key, { sendQ, acked }] of queues) {
      let seen = this.#seen.get(key);
      // Only what a client is given in large amounts counts against the
      // budget, and every socket of the port is in the reading.
      if (seen === undefined && sendQ === 0 && acked < KEPT_FROM_BYTES) {
        continue;
      }
      // A new connection on a port once another's starts over.
      if (seen === undefined || acked < seen[seen.length - 1]!.acked) {
        seen = [];
        this.#seen.set(key, seen);
        this.#said.delete(key);
      }
      seen.push({ at, sendQ, acked });
      // The one before the last is kept however old: while the event loop
      // is held, readings come seconds apart.
      while (seen.length > 2 && at - seen[0]!.at > MAX_SPAN_MS) seen.shift();
      const said = judge(seen, this.#said.get(key));
      if (said) this.#said.set(key, said);
      else this.#said.delete(key);
    }
    this.#readAt = at;
  }

  said(peer: Deno.NetAddr, now: number): KernelSaid | undefined {
    if (now - this.#readAt > FRESH_MS) return undefined;
    return this.#said.get(this.#key(peer.hostname, peer.port));
  }

  /** Peers kept from the last reading. */
  get size(): number {
    return this.#seen.size;
  }
}

/**
 * What one peer's readings (oldest first, the last one now) say. Its pace
 * is what it acknowledged since an earlier reading; at that pace, its
 * Send-Q now would take `drain` ms. Acking is judged since the newest
 * reading at least {@link ACKING_SPAN_MS} before the last, stalled since
 * the newest at least {@link STALLED_SPAN_MS} before it.
 */
function judge(
  seen: readonly Seen[],
  before: KernelSaid | undefined,
): KernelSaid | undefined {
  const now = seen[seen.length - 1]!;
  const acking = since(seen, ACKING_SPAN_MS);
  if (acking !== undefined) {
    const took = now.acked - acking.acked;
    // Given nothing since, and holding nothing: as it was.
    if (took === 0 && now.sendQ === 0) return before;
    if (
      took >= ACKED_BYTES &&
      now.sendQ / took * (now.at - acking.at) <= ACKING_DRAIN_MS
    ) return "acking";
  }
  const stalled = since(seen, STALLED_SPAN_MS);
  // Queued all along, and taken far too slowly: not reading.
  if (stalled === undefined || stalled.sendQ === 0 || now.sendQ === 0) {
    return undefined;
  }
  const took = now.acked - stalled.acked;
  const drain = took === 0
    ? Infinity
    : now.sendQ / took * (now.at - stalled.at);
  return drain > STALLED_DRAIN_MS ? "stalled" : undefined;
}

/** The newest of `seen` at least `spanMs` before its last one. */
function since(seen: readonly Seen[], spanMs: number): Seen | undefined {
  const last = seen[seen.length - 1]!.at;
  for (let i = seen.length - 2; i >= 0; i--) {
    if (last - seen[i]!.at >= spanMs) return seen[i];
  }
  return undefined;
}
