/**
 * Rooms across instances (and machines) through Redis pub/sub, with
 * node-redis (the `redis` package):
 * one Redis channel per room with local members, `ws-echo:room:NAME`. Each
 * publication carries the publishing instance's id, and an instance drops its
 * own when Redis hands them back, so a member never gets a message twice.
 *
 * Redis going away is survivable: publishing stops at once (a message is then
 * delivered to this instance's members only, never queued to arrive late or
 * resent to arrive twice), one log line and `/healthz` say so, and the client
 * reconnects and subscribes again by itself; once both links are back, one
 * more log line says so and cross-instance delivery resumes.
 *
 * Wire format of a publication (binary-safe: the client hands over Buffers):
 * one kind byte (`t` text, `b` binary, `n` member count), the 8-byte
 * instance id in ASCII, then the payload (UTF-8 text, the bytes, or the
 * count as a 32-bit big-endian integer).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { createClient } from "redis";
import * as z from "zod/mini";
import type { Log } from "../log.ts";
import type {
  BridgeListener,
  BridgeState,
  RoomBridge,
  RoomMessage,
} from "./bridge.ts";
import { roomName } from "./room_name.ts";
import { lazy } from "../lazy.ts";

/** Redis channel prefix: `ws-echo:room:NAME`. */
export const REDIS_CHANNEL_PREFIX = "ws-echo:room:";

/** The longest wait between reconnection attempts, in ms. */
export const MAX_RECONNECT_DELAY_MS = 2000;

const TEXT = 0x74; // "t"
const BINARY = 0x62; // "b"
const COUNT = 0x6e; // "n"
const HEADER_BYTES = 9;

/**
 * An instance id as `IdSource` makes them: eight hex digits. Built on first
 * use: this module is part of every start-up, Redis or not.
 */
const instanceId = lazy(() => z.string().check(z.regex(/^[0-9a-f]{8}$/)));

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A node-redis client, as `createClient` makes it. */
type Link = ReturnType<typeof createClient>;

/**
 * What {@link connectRedis} loads: the `redis` package's `createClient`, and
 * `node:buffer`'s `Buffer`, loaded with it rather than by a static import,
 * which the bundle would hoist into every start-up (measured: node:buffer
 * was 38 ms of the 111 ms of module loading before the first echo).
 */
type Redis = { createClient: typeof createClient; Buffer: typeof Buffer };

/**
 * Loads the `redis` client and connects a {@link RedisBridge}. The package is
 * imported here, when REDIS_URL is set, and never by anyone else: it stays
 * out of the start-up path and out of the bundle (`deploy/bundle.ts` keeps
 * it external, as the bundler cannot inline its CommonJS `require`s).
 */
export async function connectRedis(
  url: string,
  instance: string,
  listener: BridgeListener,
  log: Log,
): Promise<RedisBridge> {
  const [{ createClient }, { Buffer }] = await Promise.all([
    import("redis"),
    import("node:buffer"),
  ]);
  return new RedisBridge(
    { createClient, Buffer } as Redis,
    url,
    instance,
    listener,
    log,
  );
}

/**
 * One link to Redis that reconnects for ever, backing off to
 * {@link MAX_RECONNECT_DELAY_MS}.
 *
 * @param offlineQueue Whether commands wait for the link (subscribing) or
 * fail at once while it is down (publishing).
 */
function openLink(
  redis: Redis,
  url: string,
  name: string,
  offlineQueue: boolean,
): Link {
  return redis.createClient({
    url,
    name,
    disableOfflineQueue: !offlineQueue,
    socket: {
      reconnectStrategy: (retries: number) =>
        Math.min(100 * (retries + 1), MAX_RECONNECT_DELAY_MS),
    },
  });
}

/** Carries rooms between instances through Redis pub/sub. */
export class RedisBridge implements RoomBridge {
  readonly #instance: string;
  readonly #header: Buffer;
  readonly #Buffer: typeof Buffer;
  readonly #listener: BridgeListener;
  readonly #log: Log;
  readonly #publisher: Link;
  readonly #subscriber: Link;
  readonly #rooms = new Set<string>();
  #connected = false;
  /** Whether the link's state was logged once: the first failure is news. */
  #reported = false;
  #closed = false;
  #published = 0;
  #received = 0;
  #dropped = 0;

  /**
   * Connects at once and keeps reconnecting until {@link close}.
   *
   * @param redis The `redis` package ({@link connectRedis} loads it).
   * @param url REDIS_URL, already validated.
   * @param instance This instance's id: eight hex digits.
   */
  constructor(
    redis: Redis,
    url: string,
    instance: string,
    listener: BridgeListener,
    log: Log,
  ) {
    this.#instance = instanceId().parse(instance);
    this.#Buffer = redis.Buffer;
    this.#header = redis.Buffer.from(`?${instance}`, "latin1");
    this.#listener = listener;
    this.#log = log;
    // Publishing fails at once while Redis is away instead of queueing.
    this.#publisher = openLink(redis, url, `ws-echo-${instance}-pub`, false);
    // Subscribing waits for the link; the client subscribes again after a drop.
    this.#subscriber = openLink(redis, url, `ws-echo-${instance}-sub`, true);
    for (const link of [this.#publisher, this.#subscriber]) {
      link.on("ready", () => this.#linkChanged(false));
      link.on("end", () => this.#linkChanged(true));
      link.on("reconnecting", () => this.#linkChanged(true));
      // Reported through the state change; unhandled, it would end the process.
      link.on("error", () => this.#linkChanged(true));
      link.connect().catch(() => {});
    }
  }

  join(room: string): void {
    if (this.#rooms.has(room)) return;
    this.#rooms.add(room);
    this.#subscriber.subscribe(
      REDIS_CHANNEL_PREFIX + room,
      (message: Buffer, channel: Buffer) => this.#receive(channel, message),
      true,
    ).catch(() => {});
  }

  leave(room: string): void {
    if (!this.#rooms.delete(room)) return;
    this.#subscriber.unsubscribe(REDIS_CHANNEL_PREFIX + room).catch(() => {});
  }

  publish(room: string, data: RoomMessage): void {
    if (!this.#connected) {
      this.#dropped++;
      return;
    }
    let envelope: Buffer;
    if (typeof data === "string") {
      envelope = this.#Buffer.allocUnsafe(
        HEADER_BYTES + this.#Buffer.byteLength(data, "utf8"),
      );
      envelope.write(data, HEADER_BYTES, "utf8");
      this.#header.copy(envelope, 0);
      envelope[0] = TEXT;
    } else {
      envelope = this.#Buffer.allocUnsafe(HEADER_BYTES + data.byteLength);
      envelope.set(new Uint8Array(data), HEADER_BYTES);
      this.#header.copy(envelope, 0);
      envelope[0] = BINARY;
    }
    this.#send(room, envelope);
  }

  publishCount(room: string, members: number): void {
    if (!this.#connected) return;
    const envelope = this.#Buffer.allocUnsafe(HEADER_BYTES + 4);
    this.#header.copy(envelope, 0);
    envelope[0] = COUNT;
    envelope.writeUInt32BE(members, HEADER_BYTES);
    this.#send(room, envelope);
  }

  state(): BridgeState {
    return {
      kind: "redis",
      connected: this.#connected,
      published: this.#published,
      received: this.#received,
      dropped: this.#dropped,
      lost: 0,
    };
  }

  /** Drops both links at once; nothing waits for Redis. */
  close(): Promise<void> {
    this.#closed = true;
    for (const link of [this.#publisher, this.#subscriber]) {
      try {
        link.destroy();
      } catch {
        // Never connected, or closed already.
      }
    }
    return Promise.resolve();
  }

  #send(room: string, envelope: Buffer): void {
    this.#published++;
    this.#publisher.publish(REDIS_CHANNEL_PREFIX + room, envelope).catch(
      () => {
        this.#published--;
        this.#dropped++;
      },
    );
  }

  /** One publication from Redis: checked, then handed on unless our own. */
  #receive(channel: Buffer, message: Buffer): void {
    if (message.length < HEADER_BYTES) return;
    const instance = message.toString("latin1", 1, HEADER_BYTES);
    if (instance === this.#instance) return;
    const room = roomName().safeParse(
      channel.toString("latin1").slice(REDIS_CHANNEL_PREFIX.length),
    );
    if (!room.success || !this.#rooms.has(room.data)) return;
    const payload = message.subarray(HEADER_BYTES);
    const kind = message[0];
    if (kind === TEXT) {
      let text: string;
      try {
        text = utf8.decode(payload);
      } catch {
        return; // Not from a ws-echo instance: a member only sends UTF-8.
      }
      this.#received++;
      this.#listener.message(room.data, text);
    } else if (kind === BINARY) {
      this.#received++;
      this.#listener.message(
        room.data,
        payload.buffer.slice(
          payload.byteOffset,
          payload.byteOffset + payload.byteLength,
        ) as ArrayBuffer,
      );
    } else if (kind === COUNT && payload.length === 4) {
      if (!instanceId().safeParse(instance).success) return;
      this.#received++;
      this.#listener.count(room.data, instance, payload.readUInt32BE(0));
    }
  }

  /**
   * Both links ready = connected; one log line per change, and one for the
   * first failure, so a Redis never reached since start is said too.
   *
   * @param failed Whether a link just failed (error, end, reconnecting).
   */
  #linkChanged(failed: boolean): void {
    if (this.#closed) return;
    const connected = this.#publisher.isReady && this.#subscriber.isReady;
    const firstFailure = failed && !this.#reported;
    if (connected === this.#connected && !firstFailure) return;
    this.#reported = true;
    const changed = connected !== this.#connected;
    this.#connected = connected;
    this.#log({
      event: "rooms_bridge",
      bridge: "redis",
      connected,
      message: connected
        ? "Redis reached: rooms span every instance that uses it"
        : "Redis unreachable: rooms serve this instance's members only until it is back",
    });
    if (changed) this.#listener.linkChanged(connected);
  }
}
