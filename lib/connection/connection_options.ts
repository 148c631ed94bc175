/**
 * What one connection is given (the app's shared state, its slot, its
 * options, a room to relay to) and its fixed deadlines: the types
 * `echo_connection.ts` takes and `lib/rooms/` implements.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { ConnectionSweep } from "./sweep.ts";
import type { EchoOptions } from "./parse_options.ts";
import type { StreamOptions } from "./stream_push.ts";
import type { Log } from "../log.ts";
import type { MemoryGuard } from "../admission/memory_guard.ts";
import type { Metrics } from "../metrics.ts";
import type { Lease } from "../admission/slots.ts";
import type { PeerAckBook } from "./peer_acks.ts";
import type { HeldSockets } from "./held_sockets.ts";
import type { LoopTurns } from "./loop_turns.ts";
import type { PayloadSeen } from "./traffic.ts";

/** The app's shared state a connection uses: one object for all of them. */
export interface ConnectionServices {
  config: Config;
  metrics: Metrics;
  memory: MemoryGuard;
  log: Log;
  /**
   * Keeps each connection's deadlines: the idle timeout (IDLE_TIMEOUT_SECONDS),
   * the open deadline and the close timeout (CLOSE_TIMEOUT_SECONDS).
   */
  sweep: ConnectionSweep;
  /**
   * Aborts connections whose Close cannot reach the client (`ss -K`); none
   * where the listener's port is not known or under tests.
   */
  held?: HeldSockets | undefined;
  /** When the event loop was held (the overload watch's); none under tests. */
  turns?: LoopTurns | undefined;
  /**
   * What the kernel says of each client's reading (`peer_acks.ts`); none
   * where `ss` cannot run or under tests of the app alone.
   */
  acks?: PeerAckBook | undefined;
  /**
   * Where the payload the app saw of each connection is told, for the
   * watchdog thread's flood rule (`traffic.ts`); none under tests.
   */
  payloadSeen?: PayloadSeen | undefined;
}

/** A connection a room hands other members' messages to. */
export interface RelayTarget {
  /**
   * Sends one message another member sent, through the one send function;
   * nothing once the connection is closing. Counts as activity for the idle
   * timeout: a member that only listens stays while the room talks.
   *
   * @param bytes The payload's length, measured once for every receiver.
   * @param now `Date.now()`, read once for every receiver.
   */
  relay(data: string | ArrayBuffer, bytes: number, now: number): void;
}

/**
 * Where a room member's messages go instead of back to the sender
 * (`lib/rooms/`): told when the socket opens, of every message that passed
 * the size and rate limits, and once when the connection finishes.
 */
export interface Relay {
  opened(target: RelayTarget): void;
  received(data: string | ArrayBuffer, bytes: number): void;
  /**
   * The connection is closing (the service closed it) or finished; called
   * at least once, opened or not, and must be idempotent.
   */
  closed(): void;
}

/** What one connection needs: the shared state, and its own. */
export interface ConnectionOptions {
  /** Shared by every connection (the app's `Services` will do). */
  services: ConnectionServices;
  lease: Lease;
  /** Client IP as the limits see it. */
  ip: string;
  /** The TCP peer (a proxy's socket behind one), for the overload watch. */
  peer?: Deno.NetAddr | undefined;
  /** Connection id, for the log line. */
  id: string;
  /** Query options: delay, format, close_after. */
  echo: EchoOptions;
  /** Text messages sent on open, before any echo (`/inspect`, greeting). */
  prelude: readonly string[];
  /** `/close`: text "CODE REASON" closes with that code and reason. */
  closeCommands: boolean;
  /** `/stream`: the messages the server sends of its own. */
  stream?: StreamOptions;
  /** A room member: messages go to the room, not back (no "Goodbye" close). */
  relay?: Relay;
  /** Gives up on a socket that has not opened by then. @default OPEN_TIMEOUT_MS */
  openTimeoutMs?: number;
}

/**
 * How long a connection's per-IP slot stays taken after the service closed
 * it for holding too much (slow reader, overload). Deno cannot abort a socket
 * whose writes are stuck behind a peer that does not read
 * (denoland/deno#25126): its descriptor and buffers stay until the client
 * goes (measured 30 s and more with `deno run -A
 * bench/slow_reader_teardown.ts 300`), so the hold bounds how many such
 * sockets one client can leave behind. Against MAX_CONNECTIONS it counts
 * only until the kernel no longer has the socket (`Lease.socketGone`);
 * against the client's MAX_CONNECTIONS_PER_IP it lasts the whole hold, so
 * a non-reader cannot come straight back (docs/limits.md).
 */
export const SLOW_READER_SLOT_HOLD_MS = 60_000;

/**
 * How long an upgraded socket may take to open. A client that resets the
 * TCP connection right after sending its upgrade leaves a socket whose
 * `open` and `close` events never fire (measured by issue #12's attack
 * review); without this deadline its slot would stay taken for good.
 */
export const OPEN_TIMEOUT_MS = 10_000;
