/**
 * Rooms across the workers of one process (`deno serve --parallel`): one
 * `BroadcastChannel` per room with local members, which Deno delivers to
 * every other worker of the process that has the same channel open (and
 * never back to the one that posted). Messages keep their type: a string
 * stays a string, an `ArrayBuffer` is copied byte for byte.
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

/** What travels on a channel: a message (`d`) or a member count (`n`). */
type Posted =
  | { i: string; d: RoomMessage }
  | { i: string; n: number };

/** Carries rooms between the workers of one process. */
export class BroadcastBridge implements RoomBridge {
  readonly #instance: string;
  readonly #listener: BridgeListener;
  readonly #channels = new Map<string, BroadcastChannel>();
  #published = 0;
  #received = 0;

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
    channel.onmessage = (event: MessageEvent<Posted>) => {
      this.#received++;
      const posted = event.data;
      if ("d" in posted) this.#listener.message(room, posted.d);
      else this.#listener.count(room, posted.i, posted.n);
    };
    this.#channels.set(room, channel);
  }

  leave(room: string): void {
    this.#channels.get(room)?.close();
    this.#channels.delete(room);
  }

  publish(room: string, data: RoomMessage): void {
    this.#post(room, { i: this.#instance, d: data });
  }

  publishCount(room: string, members: number): void {
    this.#post(room, { i: this.#instance, n: members });
  }

  state(): BridgeState {
    return {
      kind: "broadcast",
      connected: true,
      published: this.#published,
      received: this.#received,
      dropped: 0,
    };
  }

  close(): Promise<void> {
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
    return Promise.resolve();
  }

  #post(room: string, posted: Posted): void {
    const channel = this.#channels.get(room);
    if (channel === undefined) return;
    channel.postMessage(posted);
    this.#published++;
  }
}
