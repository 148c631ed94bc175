/**
 * Admission control and the set of open connections: the per-IP and total
 * caps, and the list that shutdown closes with 1001.
 *
 * @module
 */
import type { CloseReason } from "../protocol/close_codes.ts";
import { JointRate, type Pace, TokenBucket } from "./token_bucket.ts";

type Timer = ReturnType<typeof setTimeout>;

/** Something the registry can ask to close, e.g. at shutdown. */
export interface Closable {
  /** `now`: send the close at once rather than from the next macrotask. */
  close(reason: CloseReason, now?: boolean): void;
  /**
   * What the overload watch judges a client by; undefined for connections
   * that receive no messages by design (`/sse`), which are never suspects.
   */
  activity?(): Activity;
  /**
   * The overload watch counted this upgrade as leaked (reset by its client,
   * never opened: `lib/start/upgrade_leaks.ts`): it is no live connection,
   * so it finishes now and frees its slot ({@link ConnectionRegistry.leak}).
   */
  leaked?(): void;
}

/** One connection's activity, read only when an incident is attributed. */
export interface Activity {
  /** True once the socket opened (an upgrade reset by its client never does). */
  opened: boolean;
  /** When the upgrade was made, in ms since epoch. */
  startedAt: number;
  /** Complete messages received so far. */
  messages: number;
  /** Their payload bytes, and those of messages dropped while closing. */
  bytesIn: number;
  /**
   * The TCP peer (behind a proxy, the proxy's socket): where the kernel's
   * count for this connection is found (`lib/start/socket_bytes.ts`).
   */
  peer: Deno.NetAddr | undefined;
  /** Messages this service has sent it so far (echoes, `/stream`, a room's). */
  sent: number;
  /** When the last complete message arrived (`startedAt` before any), in ms since epoch. */
  lastMessageAt: number;
  /** When this service started closing it, in ms since epoch; undefined if it has not. */
  closingSince: number | undefined;
}

/** A connection slot; `release()` is idempotent. */
export interface Lease {
  /** Frees the slot now, unless `holdFor` asked to keep it. Idempotent. */
  release(): void;
  /** Keeps the slot taken for `ms` more, even after `release()`. */
  holdFor(ms: number): void;
  /**
   * The kernel no longer has the socket (aborted, or its client left): no
   * descriptor is behind it. A slot held by `holdFor` then stops counting
   * against MAX_CONNECTIONS once `release()` ran; it still counts for its
   * client (MAX_CONNECTIONS_PER_IP) until the hold ends. Idempotent.
   */
  socketGone(): void;
  /** Registers the connection so shutdown can close it. */
  track(connection: Closable): void;
  /**
   * The message rate shared by every connection of this client (IPv4
   * address or IPv6 prefix); undefined when that limit is off.
   */
  readonly clientMessageRate: TokenBucket | undefined;
  /**
   * The bytes `/stream` may send to this client, shared by all of its
   * streams (made on first use) and paid together with every client's
   * budget ({@link ALL_STREAMS_SHARE}); undefined when that limit is off.
   */
  clientStreamBytes(): Pace | undefined;
}

/**
 * What the registry keeps for one client key while it holds slots, and for
 * as long after as its message allowance takes to refill: a client that was
 * closed for its rate must not get a fresh burst by reconnecting (the attack
 * review measured 132,000 echoes/s from one address that way).
 */
interface ClientState {
  slots: number;
  /** Messages per second for all the client's connections together. */
  messages: TokenBucket | undefined;
  /**
   * When the client may be forgotten (its allowance is full again), in ms
   * since epoch; set when its last slot is freed, 0 while it holds slots.
   */
  forgetAt: number;
  /** Bytes its `/stream`s may send, shared; made on first use. */
  streamBytes?: Pace;
}

/**
 * Every `/stream` together sends at most this many times one client's byte
 * rate and burst, each message charged its frame cost on top: one client's
 * rate times the addresses a stranger rotates through is no bound (16-48
 * loopback addresses drew 46-52 MiB/s and a bystander's echo waited up to
 * 2.5 s in an attack review, issue #20). Streams then wait for their turn;
 * echoes are never charged.
 */
export const ALL_STREAMS_SHARE = 4;

/**
 * Where a held slot is counted: `open` while the kernel may still have its
 * socket (against MAX_CONNECTIONS and the client's), `gone` once it has not
 * (against the client's only).
 */
export type HeldState = "open" | "gone";

/** Why the registry has no slot for a client: the row of `REFUSALS` to answer. */
export type NoSlot = "per_ip" | "total" | "shutting_down";

/** Counts connections per client IP and in total, against the configured caps. */
export class ConnectionRegistry {
  readonly #clients = new Map<string, ClientState>();
  /**
   * Clients whose last slot was freed, oldest first, each with its
   * `forgetAt` then. The wait is the same for every client, so the queue is
   * in deadline order and is trimmed from the front on every admission and
   * release: no timer per client (a Node-compat timer costs more than the
   * rest of the bookkeeping of a handshake).
   */
  readonly #forgetting: Array<{ key: string; at: number }> = [];
  /** Where the queue's live part starts: trimmed in bulk, not per shift. */
  #forgetHead = 0;
  /** Open connections and the client key each belongs to. */
  readonly #open = new Map<Closable, string>();
  /** Slots held after a slow reader closed: the timer that frees each one. */
  readonly #held = new Map<Timer, () => void>();
  readonly #emptyWaiters: Array<() => void> = [];
  readonly #maxPerIp: number;
  /**
   * The cap on slots in total, leaked descriptors ({@link leaked}) counted
   * as taken; 0 = off. Changed by the cap learned after
   * start-up (`learned_cap.ts`): slots already held above it stay, and
   * every new one is refused until the total is below it.
   */
  maxTotal: number;
  /**
   * True when the open-file limit bounds {@link maxTotal} (`fd_limit.ts`)
   * and the server closes a refused connection once its answer is written
   * (`admission/refuse.ts`): each refusal then holds a descriptor for the
   * time it takes to write, not until its client closes. Set at start-up
   * under `deno task start` only: `deno serve`'s server logs the body's
   * ending error with a stack per refusal.
   */
  closesRefusals = false;
  readonly #clientRate: { perSecond: number; burst: number } | undefined;
  readonly #streamRate: { perSecond: number; burst: number } | undefined;
  /** Every client's `/stream` bytes together ({@link ALL_STREAMS_SHARE}). */
  readonly #allStreams: TokenBucket | undefined;
  readonly #streamFrameBytes: number;
  #total = 0;
  /**
   * Of {@link total}, slots held after their connection closed whose
   * socket may still be there (the kernel has not said it is gone).
   */
  #heldOpen = 0;
  /** Held slots whose socket is gone: counted per client, not in total. */
  #heldGone = 0;
  /** Descriptors held for good by leaked upgrades ({@link leak}). */
  #leaked = 0;
  #shuttingDown = false;
  /** Told of each connection tracked and untracked ({@link observe}). */
  #observer: ((connection: Closable, open: boolean) => void) | undefined;

  /**
   * @param limits Caps; 0 turns a cap off. `clientMessageRate` is shared by
   * each client's connections, `clientStreamBytes` by its `/stream`s
   * (undefined or 0 per second: off), and {@link ALL_STREAMS_SHARE} times it
   * by every client's, each message charged `frameBytes` more there.
   */
  constructor(limits: {
    maxPerIp: number;
    maxTotal: number;
    clientMessageRate?: { perSecond: number; burst: number };
    clientStreamBytes?: {
      perSecond: number;
      burst: number;
      frameBytes?: number;
    };
  }) {
    this.#maxPerIp = limits.maxPerIp;
    this.maxTotal = limits.maxTotal;
    this.#clientRate = limits.clientMessageRate?.perSecond
      ? limits.clientMessageRate
      : undefined;
    this.#streamRate = limits.clientStreamBytes?.perSecond
      ? limits.clientStreamBytes
      : undefined;
    this.#streamFrameBytes = limits.clientStreamBytes?.frameBytes ?? 0;
    this.#allStreams = this.#streamRate && new TokenBucket(
      ALL_STREAMS_SHARE * this.#streamRate.perSecond,
      ALL_STREAMS_SHARE * this.#streamRate.burst,
      Date.now(),
    );
  }

  /**
   * The `/stream` bytes of client `key`, shared by its streams and made on
   * first use, paid together with every client's; undefined when off or
   * when `key` holds no slot.
   */
  streamBytesFor(key: string): Pace | undefined {
    const rate = this.#streamRate;
    const client = rate && this.#clients.get(key);
    if (!rate || !client) return undefined;
    return client.streamBytes ??= new JointRate(
      new TokenBucket(rate.perSecond, rate.burst, Date.now()),
      this.#allStreams!,
      this.#streamFrameBytes,
    );
  }

  /** Slots in use by one client key (an IPv4 address or an IPv6 prefix). */
  countFor(key: string): number {
    return this.#clients.get(key)?.slots ?? 0;
  }

  /**
   * Slots counted against `maxTotal`: open connections, upgrades not yet
   * open, and slots held for closed slow readers whose socket the kernel
   * may still have (each may hold a descriptor).
   */
  get total(): number {
    return this.#total;
  }

  /**
   * Of {@link total}, slots held after their connection closed whose
   * socket the kernel has not said is gone (SLOW_READER_SLOT_HOLD_MS).
   */
  get heldOpen(): number {
    return this.#heldOpen;
  }

  /**
   * Slots held after a slow reader's close whose socket is gone: no
   * descriptor is behind them, so they count against MAX_CONNECTIONS_PER_IP
   * only, not against `maxTotal` (a burst of 200 non-readers from 200
   * addresses refused every newcomer for a minute when they did, issue
   * #20).
   */
  get heldGone(): number {
    return this.#heldGone;
  }

  /**
   * Descriptors held for good by upgrades their client reset, counted by
   * {@link leak}: they count against `maxTotal` as taken slots do.
   */
  get leaked(): number {
    return this.#leaked;
  }

  /**
   * The overload watch counted `connection`'s upgrade as leaked: it holds no
   * live connection, so it finishes and lets its slot go now
   * (`Closable.leaked`), not at its open deadline (OPEN_TIMEOUT_MS, 10 s).
   * Deno keeps its descriptor until the process ends, and the cap exists so
   * descriptors do not run out, so it counts against `maxTotal` for good:
   * before, the cap forgot it at the deadline and admitted connections the
   * descriptors could not hold (84 leaked under `prlimit --nofile=256`, cap
   * 192: accepting failed at the 132nd client, ECONNREFUSED for everyone,
   * while the leak exit waits for 128). Call once per connection.
   */
  leak(connection: Closable): void {
    this.#leaked++;
    connection.leaked?.();
  }

  /** True once `closeAll` ran: new upgrades are refused with 503. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Which cap would refuse `ip` now, without reserving anything. */
  noSlotFor(ip: string): NoSlot | undefined {
    if (this.#shuttingDown) return "shutting_down";
    if (this.maxTotal > 0 && this.#total + this.#leaked >= this.maxTotal) {
      return "total";
    }
    const forIp = this.#clients.get(ip)?.slots ?? 0;
    if (this.#maxPerIp > 0 && forIp >= this.#maxPerIp) return "per_ip";
    return undefined;
  }

  /** Reserves a slot for `ip`, or says which cap refuses it. */
  admit(ip: string): Lease | NoSlot {
    const noSlot = this.noSlotFor(ip);
    if (noSlot) return noSlot;
    if (this.#forgetting.length > this.#forgetHead) this.#forgetDue(Date.now());
    let client = this.#clients.get(ip);
    if (client === undefined) {
      const rate = this.#clientRate;
      client = {
        slots: 0,
        messages: rate &&
          new TokenBucket(rate.perSecond, rate.burst, Date.now()),
        forgetAt: 0,
      };
      this.#clients.set(ip, client);
    }
    client.forgetAt = 0;
    client.slots++;
    this.#total++;
    return new Slot(this, ip, client.messages);
  }

  /**
   * Gives back one slot of `ip`; called once per slot, by {@link Slot}.
   * `state` says where the slot was counted: live (in total), held with
   * its socket maybe there (in total), or held with its socket gone.
   */
  free(
    ip: string,
    timer: Timer | undefined,
    state: "live" | HeldState = "live",
  ): void {
    if (timer !== undefined) this.#held.delete(timer);
    if (state === "gone") this.#heldGone--;
    else this.#total--;
    if (state === "open") this.#heldOpen--;
    const client = this.#clients.get(ip);
    if (!client || --client.slots > 0) return;
    const rate = this.#clientRate;
    if (!rate) return void this.#clients.delete(ip);
    const now = Date.now();
    this.#forgetDue(now);
    client.forgetAt = now + (rate.burst / rate.perSecond) * 1000;
    this.#forgetting.push({ key: ip, at: client.forgetAt });
  }

  /**
   * Forgets the clients whose allowance has refilled by `now` and that hold
   * no slot: a full bucket is what a new client gets, so forgetting only
   * frees memory. A client that came back since has a newer (or no)
   * `forgetAt` and stays.
   */
  #forgetDue(now: number): void {
    const queue = this.#forgetting;
    let head = this.#forgetHead;
    while (head < queue.length && queue[head]!.at <= now) {
      const { key, at } = queue[head++]!;
      const client = this.#clients.get(key);
      if (client && client.slots === 0 && client.forgetAt === at) {
        this.#clients.delete(key);
      }
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.#forgetHead = head;
  }

  /**
   * A slot's connection closed while its slot is held (`"open"`), or its
   * socket is then found gone (`"gone"`): it leaves the total, and only
   * its client's count keeps it until the hold ends.
   */
  held(state: HeldState): void {
    if (state === "open") return void this.#heldOpen++;
    this.#heldOpen--;
    this.#total--;
    this.#heldGone++;
  }

  /** Keeps a slot taken until `timer` fires (or `dispose` runs `free`). */
  hold(timer: Timer, free: () => void): void {
    this.#held.set(timer, free);
  }

  /** Adds a connection of client `key` to the set that shutdown closes. */
  track(connection: Closable, key: string): void {
    this.#open.set(connection, key);
    this.#observer?.(connection, true);
  }

  /**
   * Tells `observer` of every open connection now, then of each one
   * tracked (`true`) and untracked (`false`) from now on: the RSS watchdog
   * thread's list of this process's connections (`own_peers.ts`). One
   * observer; a second replaces the first.
   */
  observe(observer: (connection: Closable, open: boolean) => void): void {
    this.#observer = observer;
    for (const connection of this.#open.keys()) observer(connection, true);
  }

  /** Every open connection with its client key (a copy: safe to close while iterating). */
  connections(): Array<[Closable, string]> {
    return [...this.#open];
  }

  /** Open connections tracked now. */
  get openCount(): number {
    return this.#open.size;
  }

  /** Resolves once no tracked connection is open (slots held for slow readers do not count). */
  whenEmpty(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#emptyWaiters.push(resolve);
    return promise;
  }

  /** Removes a connection from the set that shutdown closes. */
  untrack(connection: Closable): void {
    if (this.#open.delete(connection)) this.#observer?.(connection, false);
    if (this.#open.size > 0) return;
    for (const resolve of this.#emptyWaiters.splice(0)) resolve();
  }

  /** Refuses new upgrades and asks every open connection to close. */
  closeAll(reason: CloseReason): void {
    this.#shuttingDown = true;
    this.closeEvery(reason);
  }

  /**
   * Asks every open connection to close without refusing new upgrades (the
   * listener is being recycled); returns how many were asked. `now` sends
   * the close frames at once (see {@link Closable.close}).
   */
  closeEvery(reason: CloseReason, now = false): number {
    const open = [...this.#open.keys()];
    for (const connection of open) connection.close(reason, now);
    return open.length;
  }

  /** Frees every held slot and clears every timer (when the server stops). */
  dispose(): void {
    for (const [timer, free] of [...this.#held]) {
      clearTimeout(timer);
      free();
    }
    for (const [key, client] of this.#clients) {
      if (client.slots === 0) this.#clients.delete(key);
    }
    this.#forgetting.length = 0;
    this.#forgetHead = 0;
  }
}

/**
 * One admitted connection's slot. A class rather than closures: one small
 * object per connection, which the idle-memory benchmark counts.
 */
class Slot implements Lease {
  readonly #registry: ConnectionRegistry;
  readonly #ip: string;
  readonly clientMessageRate: TokenBucket | undefined;
  #released = false;
  #tracked: Closable | undefined;
  #timer: Timer | undefined;
  /** Set once `release()` ran while held: where the registry counts it. */
  #held: HeldState | undefined;
  /** The kernel said the socket is gone ({@link socketGone}). */
  #gone = false;

  constructor(
    registry: ConnectionRegistry,
    ip: string,
    clientMessageRate: TokenBucket | undefined,
  ) {
    this.#registry = registry;
    this.#ip = ip;
    this.clientMessageRate = clientMessageRate;
  }

  clientStreamBytes(): Pace | undefined {
    return this.#registry.streamBytesFor(this.#ip);
  }

  release(): void {
    if (this.#tracked) {
      this.#registry.untrack(this.#tracked);
      this.#tracked = undefined;
    }
    if (this.#timer === undefined) return this.#free();
    if (this.#released || this.#held !== undefined) return;
    this.#held = "open";
    this.#registry.held("open");
    if (this.#gone) this.#letGoOfTotal();
  }

  socketGone(): void {
    this.#gone = true;
    if (this.#held === "open" && !this.#released) this.#letGoOfTotal();
  }

  #letGoOfTotal(): void {
    this.#held = "gone";
    this.#registry.held("gone");
  }

  holdFor(ms: number): void {
    if (this.#released || this.#timer !== undefined) return;
    const free = () => this.#free();
    this.#timer = setTimeout(free, ms);
    this.#registry.hold(this.#timer, free);
  }

  track(connection: Closable): void {
    this.#tracked = connection;
    this.#registry.track(connection, this.#ip);
  }

  #free(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#tracked) this.#registry.untrack(this.#tracked);
    this.#registry.free(this.#ip, this.#timer, this.#held ?? "live");
  }
}
