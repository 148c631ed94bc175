/**
 * The rooms of one instance: who is in each, the limits on joining
 * (ROOM_MAX_MEMBERS, MAX_ROOMS), and the fan-out. A message a member sends is
 * handed, in the order it arrived, to every other open member through that
 * member's own send function (so each copy counts against the receiver's
 * MAX_BUFFERED_BYTES and the memory budget), and to the bridge for the other
 * instances. Nothing is stored: a room exists while it has members or
 * presence watchers, and is forgotten when the last one goes. MAX_ROOMS
 * counts the rooms with members only: a presence stream creates no room
 * that would keep a member out (each stream is a connection, within
 * MAX_CONNECTIONS and MAX_CONNECTIONS_PER_IP).
 *
 * @module
 */
import type { Relay, RelayTarget } from "../connection/connection_options.ts";
import { payloadBytes } from "../protocol/utf8.ts";
import type { RoomsState } from "../metrics.ts";
import type { BridgeListener, RoomBridge, RoomMessage } from "./bridge.ts";

/** Why a member or watcher cannot join a room now. */
export type RoomRefusal = "rooms_off" | "rooms_full" | "room_full";

/** One presence event: the room's member count after a change. */
export interface PresenceEvent {
  room: string;
  /** Open members across every instance this one hears from. */
  members: number;
  /** What changed: `join`, `leave`, or `snapshot` for the first event. */
  change: "join" | "leave" | "snapshot";
}

/** Told of every change in a room's member count. */
export type PresenceListener = (event: PresenceEvent) => void;

/**
 * How long another instance's member count is believed without news: each
 * instance repeats its counts every {@link COUNT_REFRESH_MS}, so a count
 * older than this belongs to an instance that stopped.
 */
export const COUNT_TTL_MS = 30_000;
/** How often each instance repeats its member counts to the others. */
export const COUNT_REFRESH_MS = 10_000;

/** Options for {@link RoomRegistry}. */
export interface RoomLimits {
  /** MAX_ROOMS: rooms on this instance; 0 turns rooms off. */
  maxRooms: number;
  /** ROOM_MAX_MEMBERS: members of one room, across known instances. */
  maxMembers: number;
}

/** Every room of this instance. */
export class RoomRegistry implements BridgeListener {
  readonly #rooms = new Map<string, Room>();
  readonly #limits: RoomLimits;
  #bridge: RoomBridge | undefined;
  #members = 0;
  /** Rooms with at least one member, open or opening: what MAX_ROOMS caps. */
  #occupied = 0;
  #refresh: ReturnType<typeof setInterval> | undefined;

  constructor(limits: RoomLimits) {
    this.#limits = limits;
  }

  /** Open members on this instance, all rooms together. */
  get members(): number {
    return this.#members;
  }

  /** Counts kept for `/healthz` and `/metrics`. */
  state(): RoomsState {
    return {
      rooms: this.#occupied,
      members: this.#members,
      bridge: this.#bridge?.state() ?? null,
    };
  }

  /** The bridge in use, if any: its state is part of `/healthz`. */
  get bridge(): RoomBridge | undefined {
    return this.#bridge;
  }

  /**
   * Connects the rooms to other instances. Rooms that already have members
   * are joined on the bridge at once.
   */
  attach(bridge: RoomBridge): void {
    this.#bridge = bridge;
    for (const [name, room] of this.#rooms) {
      bridge.join(name);
      if (room.open > 0) bridge.publishCount(name, room.open);
    }
    this.#refresh = setInterval(() => this.#refreshCounts(), COUNT_REFRESH_MS);
    Deno.unrefTimer(this.#refresh);
  }

  /** Why joining or watching `name` would be refused now, if it would. */
  refusalFor(name: string): RoomRefusal | undefined {
    const { maxRooms, maxMembers } = this.#limits;
    if (maxRooms === 0) return "rooms_off";
    const room = this.#rooms.get(name);
    if (!room?.reserved.size && this.#occupied >= maxRooms) return "rooms_full";
    return room && room.total() >= maxMembers ? "room_full" : undefined;
  }

  /**
   * Reserves a place in `name` for a connection about to open. The
   * membership is the connection's {@link Relay}: it starts receiving once
   * the socket opens and gives the place back when it closes.
   *
   * @param options `self`: the member gets its own messages back too.
   */
  join(
    name: string,
    options: { self: boolean },
  ): Membership | RoomRefusal {
    const refusal = this.refusalFor(name);
    if (refusal) return refusal;
    const membership = new Membership(this, this.#room(name), options.self);
    membership.room.reserved.add(membership);
    if (membership.room.reserved.size === 1) this.#occupied++;
    return membership;
  }

  /**
   * Tells `listener` the member count of `name` now and after each change.
   * Watching is refused only when rooms are off: a watched room without
   * members does not count against MAX_ROOMS.
   *
   * @returns Stops the listening; or `rooms_off`.
   */
  watch(
    name: string,
    listener: PresenceListener,
  ): (() => void) | RoomRefusal {
    if (this.#limits.maxRooms === 0) return "rooms_off";
    const room = this.#room(name);
    room.watchers.add(listener);
    // Open members, as every later event counts them: with the reserved
    // ones (total()), members still opening were counted in the snapshot
    // and again in their join (snapshot 2, join 1, join 2: the newcomer's
    // review of the README's room example).
    listener({ room: name, members: room.present(), change: "snapshot" });
    return () => {
      room.watchers.delete(listener);
      this.#forgetIfEmpty(room);
    };
  }

  /** Stops the count refresh and closes the bridge. */
  async dispose(): Promise<void> {
    clearInterval(this.#refresh);
    this.#refresh = undefined;
    const bridge = this.#bridge;
    this.#bridge = undefined;
    await bridge?.close();
  }

  /** From the bridge: another instance's member sent a message. */
  message(name: string, data: RoomMessage): void {
    this.#rooms.get(name)?.fanOut(undefined, data, payloadBytes(data));
  }

  /** From the bridge: another instance's member count in `name`. */
  count(name: string, instance: string, members: number): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return;
    const known = room.remote.get(instance);
    if (members === 0) room.remote.delete(instance);
    else room.remote.set(instance, { members, at: Date.now() });
    // A newcomer instance learns this one's count at once, not at the next
    // refresh.
    if (known === undefined && members > 0 && room.open > 0) {
      this.#bridge?.publishCount(name, room.open);
    }
    const before = known?.members ?? 0;
    if (members !== before) room.tell(members > before ? "join" : "leave");
  }

  /** From the bridge: the link went down or came back. */
  linkChanged(connected: boolean): void {
    if (connected) {
      // Back: say who is here, so the others' counts are right again.
      for (const [name, room] of this.#rooms) {
        if (room.open > 0) this.#bridge?.publishCount(name, room.open);
      }
      return;
    }
    // Down: the other instances' members are out of reach.
    for (const room of this.#rooms.values()) {
      if (room.remote.size === 0) continue;
      room.remote.clear();
      room.tell("leave");
    }
  }

  /** A member's socket opened: it now receives and counts. */
  opened(membership: Membership): void {
    const room = membership.room;
    room.open++;
    this.#members++;
    this.#bridge?.publishCount(room.name, room.open);
    room.tell("join");
  }

  /** A member sent a message that passed its limits. */
  sent(membership: Membership, data: RoomMessage, bytes: number): void {
    const room = membership.room;
    room.fanOut(membership, data, bytes);
    this.#bridge?.publish(room.name, data);
  }

  /** A member's connection finished (whether or not it ever opened). */
  left(membership: Membership, wasOpen: boolean): void {
    const room = membership.room;
    if (room.reserved.delete(membership) && room.reserved.size === 0) {
      this.#occupied--;
    }
    if (wasOpen) {
      room.open--;
      this.#members--;
      this.#bridge?.publishCount(room.name, room.open);
      room.tell("leave");
    }
    this.#forgetIfEmpty(room);
  }

  #room(name: string): Room {
    let room = this.#rooms.get(name);
    if (room === undefined) {
      room = new Room(name);
      this.#rooms.set(name, room);
      this.#bridge?.join(name);
    }
    return room;
  }

  #forgetIfEmpty(room: Room): void {
    if (room.reserved.size > 0 || room.watchers.size > 0) return;
    if (this.#rooms.get(room.name) !== room) return;
    this.#rooms.delete(room.name);
    this.#bridge?.leave(room.name);
  }

  /** Repeats this instance's counts and forgets counts nobody repeated. */
  #refreshCounts(): void {
    const now = Date.now();
    for (const [name, room] of this.#rooms) {
      if (room.open > 0) this.#bridge?.publishCount(name, room.open);
      let dropped = false;
      for (const [instance, count] of room.remote) {
        if (now - count.at <= COUNT_TTL_MS) continue;
        room.remote.delete(instance);
        dropped = true;
      }
      if (dropped) room.tell("leave");
    }
  }
}

/** One room on this instance; only the registry changes it. */
export class Room {
  readonly name: string;
  /** Members admitted, open or still opening: ROOM_MAX_MEMBERS counts these. */
  readonly reserved = new Set<Membership>();
  readonly watchers = new Set<PresenceListener>();
  /** Other instances' open members, as they last said. */
  readonly remote = new Map<string, { members: number; at: number }>();
  /** Members whose socket is open. */
  open = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Members here (reserved) and on other instances. */
  total(): number {
    let members = this.reserved.size;
    for (const count of this.remote.values()) members += count.members;
    return members;
  }

  /**
   * Hands `data` to every open member but `from` (unless it asked for its
   * own), each through its own send function. Never waits for a receiver:
   * one that does not read is closed by its own backlog limit.
   */
  fanOut(
    from: Membership | undefined,
    data: RoomMessage,
    bytes: number,
  ): void {
    const now = Date.now();
    for (const member of this.reserved) {
      if (member === from && !member.self) continue;
      member.target?.relay(data, bytes, now);
    }
  }

  tell(change: "join" | "leave"): void {
    if (this.watchers.size === 0) return;
    const event: PresenceEvent = {
      room: this.name,
      members: this.present(),
      change,
    };
    for (const listener of this.watchers) listener(event);
  }

  /** Members whose socket is open, here and on other instances: what presence says. */
  present(): number {
    let members = this.open;
    for (const count of this.remote.values()) members += count.members;
    return members;
  }
}

/**
 * One member's place in a room: the connection's {@link Relay}. Created by
 * {@link RoomRegistry.join} before the upgrade, so the limit holds for
 * upgrades in flight too.
 */
export class Membership implements Relay {
  /** The room's state; internal to this module. */
  readonly room: Room;
  /** The member gets its own messages back (`self=1`). */
  readonly self: boolean;
  /** The connection, once its socket is open. */
  target: RelayTarget | undefined;
  readonly #registry: RoomRegistry;
  #left = false;

  constructor(registry: RoomRegistry, room: Room, self: boolean) {
    this.#registry = registry;
    this.room = room;
    this.self = self;
  }

  /** The room's name. */
  get name(): string {
    return this.room.name;
  }

  opened(target: RelayTarget): void {
    if (this.#left) return;
    this.target = target;
    this.#registry.opened(this);
  }

  received(data: RoomMessage, bytes: number): void {
    if (this.target) this.#registry.sent(this, data, bytes);
  }

  closed(): void {
    if (this.#left) return;
    this.#left = true;
    const wasOpen = this.target !== undefined;
    this.target = undefined;
    this.#registry.left(this, wasOpen);
  }
}
