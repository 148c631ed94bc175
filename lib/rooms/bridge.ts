/**
 * What carries rooms beyond one instance: a {@link RoomBridge} publishes what
 * local members send and the local member count, and hands what other
 * instances publish to a {@link BridgeListener}. Two exist:
 * `broadcast_bridge.ts` (the workers of one `deno serve --parallel` process)
 * and `redis_bridge.ts` (instances sharing a Redis). Only one runs at a time,
 * so no message arrives twice by two paths.
 *
 * @module
 */
import type { BridgeState } from "../metrics.ts";

export type { BridgeState };

/** A room message as it travels: text stays a string, binary stays bytes. */
export type RoomMessage = string | ArrayBuffer;

/** What a bridge tells the room registry. */
export interface BridgeListener {
  /** Another instance's member sent `data` to `room`. */
  message(room: string, data: RoomMessage): void;
  /** Another instance has `members` open members in `room` (0: none left). */
  count(room: string, instance: string, members: number): void;
  /** The bridge lost or regained its link (Redis went away or came back). */
  linkChanged(connected: boolean): void;
}

/** Carries room messages and member counts between instances. */
export interface RoomBridge {
  /** The first local member or watcher came: receive this room's traffic. */
  join(room: string): void;
  /** The last local member or watcher left: stop receiving it. */
  leave(room: string): void;
  /** Publishes what a local member sent, in the order it was sent. */
  publish(room: string, data: RoomMessage): void;
  /** Publishes how many open members this instance has in `room`. */
  publishCount(room: string, members: number): void;
  state(): BridgeState;
  /** Stops: leaves every room and closes the link. */
  close(): Promise<void>;
}
