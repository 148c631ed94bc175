/**
 * One connection's echoes waiting for room in the memory budget
 * (`budget_waits.ts`), in the order their messages came. What waits is
 * the received message itself, not a copy, and it is not charged while it
 * waits: the bytes were in the process from the moment Deno read them.
 * A connection keeps at most `capBytes` waiting (the first message always
 * may wait); past it the client is sending faster than the service may
 * echo, and it is shed as before.
 *
 * @module
 */
import { letGo } from "./backlog.ts";

/** A message whose echo waits: its data and its payload length. */
export interface WaitingEcho {
  data: string | ArrayBuffer;
  bytes: number;
}

/** The echoes one connection has waiting, oldest first. */
export class WaitingEchoes {
  readonly #capBytes: number;
  readonly #queue: WaitingEcho[] = [];
  #bytes = 0;

  /** @param capBytes Bytes a connection may have waiting beyond its first message. */
  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  /** True while an echo waits. */
  get waiting(): boolean {
    return this.#queue.length > 0;
  }

  /**
   * Queues the echo of `data`; false when it is over the cap (nothing
   * queued: the caller sheds the connection).
   */
  push(data: string | ArrayBuffer, bytes: number): boolean {
    if (this.waiting && this.#bytes + bytes > this.#capBytes) return false;
    this.#queue.push({ data, bytes });
    this.#bytes += bytes;
    return true;
  }

  /** The oldest waiting echo, left in place. */
  peek(): WaitingEcho | undefined {
    return this.#queue[0];
  }

  /** Takes the oldest waiting echo (after it was sent). */
  shift(): void {
    const echo = this.#queue.shift();
    if (echo) this.#bytes -= echo.bytes;
  }

  /** Drops every waiting echo and frees its message (the connection closes). */
  clear(): void {
    for (const { data, bytes } of this.#queue) letGo(data, bytes);
    this.#queue.length = 0;
    this.#bytes = 0;
  }
}
