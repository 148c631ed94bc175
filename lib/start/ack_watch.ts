/**
 * Reads the kernel's word on who reads (`lib/connection/peer_acks.ts`)
 * while the memory guard is pressed (`MemoryGuard.pressed`: past a quarter
 * of the budget, or within 10 s of a shed): one `ss -tinH` of the
 * listener's sockets every {@link ACK_LOOK_MS}, and at least
 * {@link HELD_SHARE_DIVISOR} times as long as the last one held the event
 * loop; otherwise it only looks at the guard every {@link ACK_LOOK_MS}.
 * Outside those times the kernel-count check's readings, every 2 s while
 * a WebSocket is open, fill the same book (`kernel_count_check.ts`), so
 * a reader is known before an attack begins.
 *
 * `ss` runs synchronously: beside 128 clients sending 1 MiB messages the
 * event loop was held 1-2.5 s per turn (Deno reading their frames), and a
 * reading streamed through the loop came 3-10 s after it began, too late
 * to tell anyone apart; run at once it held the loop 30-500 ms with about
 * 250 sockets open (load 18-35, `deno task start`, the case of
 * `bench/attacks/readers_beside.sh`). Nothing is kept of a socket that was
 * given less than 64 KiB and holds nothing.
 *
 * **Past {@link ACK_SYNC_MAX_CONNECTIONS} open connections** it does not
 * run `ss` itself: a synchronous reading's hold grows with the sockets
 * listed (the kernel-count check's old whole-output reader took 220-1,340
 * ms a reading at 10,000, BENCHMARKS.md "The kernel-count check at 10,000
 * connections"), and every client would wait for it. The kernel-count
 * check's streamed readings, every 2 s, still fill the book there.
 *
 * **Where `ss` cannot run** (not Linux, no iproute2, Deno Deploy, not
 * permitted, no netlink): the reading says why, the watch logs it once
 * (`ack_watch_off`) and asks again every {@link UNAVAILABLE_RETRY_MS};
 * nothing is known, and the guard decides by Deno's count alone, as
 * before.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";
import type { MemoryGuard } from "../admission/memory_guard.ts";
import type { Log } from "../log.ts";
import { PeerAcks } from "../connection/peer_acks.ts";
import { peerKey, type SocketBytesReading } from "./socket_bytes.ts";
import { UNAVAILABLE_RETRY_MS } from "./kernel_count_check.ts";

export { UNAVAILABLE_RETRY_MS };

/**
 * The wait after a reading is at least this many times as long as the
 * reading held the event loop (`ss` run synchronously, and its parse).
 */
export const HELD_SHARE_DIVISOR = 5;

/** How often the kernel is read while the guard is pressed, in ms. */
export const ACK_LOOK_MS = 500;

/**
 * Open connections (this worker's) past which the watch leaves the
 * readings to the kernel-count check's streamed ones instead of holding
 * the loop for its own: 30-500 ms were measured with ~250 sockets.
 */
export const ACK_SYNC_MAX_CONNECTIONS = 1000;

/** Reads every socket's Send-Q and `bytes_acked` (`SocketBytesReader`). */
export interface AckSource {
  readSync(
    options?: { atLeastBytes?: number; queues?: boolean },
  ): SocketBytesReading;
}

/** Options for {@link AckWatch}. */
export interface AckWatchOptions {
  memory: Pick<MemoryGuard, "pressed">;
  source: AckSource;
  log: Log;
  /**
   * How many connections this worker has open (`ConnectionRegistry.openCount`);
   * past {@link ACK_SYNC_MAX_CONNECTIONS} no synchronous reading is taken.
   * @default none: always read
   */
  openConnections?: () => number;
  /** @default {@link ACK_LOOK_MS} */
  everyMs?: number;
}

/** Keeps {@link book} filled while the guard is pressed; `dispose()` stops it. */
export class AckWatch {
  /** What the kernel says of each client: given to the connections. */
  readonly book = new PeerAcks(peerKey);
  readonly #options: AckWatchOptions;
  readonly #everyMs: number;
  readonly #stop = new AbortController();
  #timer: Cancel | undefined;
  /** `ack_watch_off` was logged. */
  #saidOff = false;

  constructor(options: AckWatchOptions) {
    this.#options = options;
    this.#everyMs = options.everyMs ?? ACK_LOOK_MS;
    this.#later(this.#everyMs);
  }

  /** Stops the watch. */
  dispose(): void {
    this.#stop.abort();
    this.#timer?.();
    this.#timer = undefined;
  }

  #later(ms: number): void {
    if (this.#stop.signal.aborted) return;
    this.#timer = after(ms, () => {
      this.#timer = undefined;
      if (this.#stop.signal.aborted) return;
      if (!this.#options.memory.pressed) return this.#later(this.#everyMs);
      const open = this.#options.openConnections?.() ?? 0;
      if (open > ACK_SYNC_MAX_CONNECTIONS) return this.#later(this.#everyMs);
      try {
        this.#look();
      } catch (error) {
        this.#options.log({ event: "error", message: String(error) });
        this.#later(this.#everyMs);
      }
    });
  }

  #look(): void {
    const at = performance.now();
    const reading = this.#options.source.readSync({
      atLeastBytes: Infinity,
      queues: true,
    });
    if (!("bytes" in reading) || reading.queues === undefined) {
      if (!this.#saidOff) {
        this.#saidOff = true;
        this.#options.log({
          event: "ack_watch_off",
          reason: "unavailable" in reading
            ? reading.unavailable
            : "no queues in the reading",
          retryMs: UNAVAILABLE_RETRY_MS,
        });
      }
      return this.#later(UNAVAILABLE_RETRY_MS);
    }
    this.book.update(reading.queues, at);
    const heldMs = performance.now() - at;
    this.#later(Math.max(this.#everyMs, heldMs * HELD_SHARE_DIVISOR));
  }
}
