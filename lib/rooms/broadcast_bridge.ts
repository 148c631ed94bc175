/**
 * Rooms across the workers of one process (`deno serve --parallel`): one
 * `BroadcastChannel` per room with local members, which Deno delivers to
 * every other worker of the process that has the same channel open (and
 * never back to the one that posted). Messages keep their type: a string
 * stays a string, an `ArrayBuffer` is copied byte for byte.
 *
 * Deno's channel is lossy under a burst: a worker that falls more than its
 * queue behind misses messages (measured: 1,000 posts in one turn reached
 * the other worker as 386, `deno run -A bench/broadcast_cost.ts`). So what a
 * room publishes in one turn of the event loop goes as one post (a member's
 * burst arrives in few turns), in order, and each post carries a sequence
 * number: a gap is counted as `lost` in `/healthz`, not hidden.
 *
 * @module
 */
import type {
  BridgeListener,
  BridgeState,
  RoomBridge,
  RoomMessage,
} from "./bridge.ts";

/** Channel name prefix: `ws-echo:room:NAME`. */
export const CHANNEL_PREFIX = "ws-echo:room:";

/** One item: a message (`d`) or this worker's member count (`n`). */
type Item = { d: RoomMessage } | { n: number };

/** One post: the worker's id, its sequence number on this channel, items. */
interface Posted {
  i: string;
  s: number;
  items: Item[];
}

/** One room's channel, what waits to be posted, and what was seen. */
interface Channel {
  channel: BroadcastChannel;
  pending: Item[];
  sequence: number;
  /** The last sequence number seen from each other worker. */
  seen: Map<string, number>;
}

/** Carries rooms between the workers of one process. */
export class BroadcastBridge implements RoomBridge {
  readonly #instance: string;
  readonly #listener: BridgeListener;
  readonly #channels = new Map<string, Channel>();
  /** Rooms with items waiting for the end of this turn. */
  readonly #waiting = new Set<Channel>();
  #flush: ReturnType<typeof setTimeout> | undefined;
  #published = 0;
  #received = 0;
  #lost = 0;

  /**
   * @param instance This worker's instance id, sent with each count.
   * @param listener Where other workers' messages and counts go.
   */
  constructor(instance: string, listener: BridgeListener) {
    this.#instance = instance;
    this.#listener = listener;
  }

  join(room: string): void {
    if (this.#channels.has(room)) return;
    const channel = new BroadcastChannel(CHANNEL_PREFIX + room);
    const state: Channel = {
      channel,
      pending: [],
      sequence: 0,
      seen: new Map(),
    };
    channel.onmessage = (event: MessageEvent<Posted>) =>
      this.#receive(room, state, event.data);
    this.#channels.set(room, state);
  }

  leave(room: string): void {
    const state = this.#channels.get(room);
    if (state === undefined) return;
    this.#post(state);
    state.channel.close();
    this.#waiting.delete(state);
    this.#channels.delete(room);
  }

  publish(room: string, data: RoomMessage): void {
    this.#queue(room, { d: data });
  }

  publishCount(room: string, members: number): void {
    this.#queue(room, { n: members });
  }

  state(): BridgeState {
    return {
      kind: "broadcast",
      connected: true,
      published: this.#published,
      received: this.#received,
      dropped: 0,
      lost: this.#lost,
    };
  }

  close(): Promise<void> {
    clearTimeout(this.#flush);
    this.#flush = undefined;
    for (const room of [...this.#channels.keys()]) this.leave(room);
    return Promise.resolve();
  }

  /** Adds an item to the room's next post, sent at the end of this turn. */
  #queue(room: string, item: Item): void {
    const state = this.#channels.get(room);
    if (state === undefined) return;
    state.pending.push(item);
    this.#published++;
    this.#waiting.add(state);
    this.#flush ??= setTimeout(() => {
      this.#flush = undefined;
      for (const waiting of this.#waiting) this.#post(waiting);
      this.#waiting.clear();
    }, 0);
  }

  #post(state: Channel): void {
    if (state.pending.length === 0) return;
    const items = state.pending;
    state.pending = [];
    state.channel.postMessage(
      { i: this.#instance, s: ++state.sequence, items } satisfies Posted,
    );
  }

  #receive(room: string, state: Channel, posted: Posted): void {
    const last = state.seen.get(posted.i);
    if (last !== undefined && posted.s > last + 1) {
      this.#lost += posted.s - last - 1;
    }
    state.seen.set(posted.i, posted.s);
    for (const item of posted.items) {
      this.#received++;
      if ("d" in item) this.#listener.message(room, item.d);
      else this.#listener.count(room, posted.i, item.n);
    }
  }
}
