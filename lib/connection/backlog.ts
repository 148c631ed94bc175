/**
 * How much a connection holds unread: Deno's `bufferedAmount` counts payload
 * bytes only, so the estimate adds a frame cost for each frame it holds,
 * inferred from the sizes of the frames recently sent (plus the empty ones,
 * which `bufferedAmount` never shows). The connection (`echo_connection.ts`)
 * reports each send and reads the backlog once per
 * {@link BACKLOG_CHECK_BYTES}.
 *
 * @module
 */

/**
 * The backlog is re-read (`bufferedAmount`, an op call) once this many bytes
 * have been sent, counting {@link FRAME_COST_BYTES} per frame; a slow reader
 * can overshoot MAX_BUFFERED_BYTES by at most this plus one message.
 */
export const BACKLOG_CHECK_BYTES = 64 * 1024;

/**
 * Server memory one queued frame costs beyond its payload: Deno copies each
 * send into a task of its own, which `bufferedAmount` does not count: 583-705
 * bytes per unread empty frame and about 800 beyond a 100-byte payload,
 * measured with `deno run -A bench/frame_cost.ts 200000 0` (and `… 100`).
 * Without it, a client that never reads could pile up empty or tiny echoes
 * far past MAX_BUFFERED_BYTES.
 */
export const FRAME_COST_BYTES = 600;

/**
 * Memory a connection that has fallen behind holds beyond its backlog:
 * received frames in flight and their buffers awaiting garbage collection
 * (about 1 MiB per flooding connection, measured in issue #12).
 */
export const IN_FLIGHT_BYTES = 1024 * 1024;

/**
 * What the frames sent since the backlog was last read say about it: one
 * per connection, updated per send with plain field arithmetic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FRAME_COST_BYTES, SentFrames } from "./backlog.ts";
 * const sent = new SentFrames();
 * for (let i = 0; i < 10; i++) sent.count(100);
 * // 1,000 bytes unread are the last 10 frames of 100 bytes.
 * assert.equal(sent.unread(1000), 1000 + 10 * FRAME_COST_BYTES);
 * // Never more frames than were sent since the queue was last empty.
 * sent.count(7);
 * assert.equal(sent.unread(1007), 1007 + 11 * FRAME_COST_BYTES);
 * ```
 */
export class SentFrames {
  /** Bytes plus frame costs sent since the backlog was last read. */
  #unchecked = 0;
  /** Frames and payload bytes sent since the last estimate. */
  #windowFrames = 0;
  #windowBytes = 0;
  /** Frames per payload byte recently sent, to count frames in `bufferedAmount`. */
  #framesPerByte = 0;
  /** Empty frames sent since the last non-empty one: `bufferedAmount` misses them. */
  #emptyRun = 0;
  /**
   * Frames sent since `bufferedAmount` was last read as 0: no more than these
   * can be unread. Bounds the estimate when the ratio of the last few frames
   * is far from the queue's (64 frames of 512 KiB unread, then a 7-byte
   * `Goodbye`: 2.5 GB estimated from the 7-byte frame's ratio, s20b).
   */
  #framesSinceDrained = 0;

  /**
   * Counts one frame of `bytes` payload bytes sent.
   *
   * @returns True once {@link BACKLOG_CHECK_BYTES} (frame costs included)
   * were sent since {@link checked}: time to read the backlog.
   */
  count(bytes: number): boolean {
    this.#windowFrames++;
    this.#windowBytes += bytes;
    this.#framesSinceDrained++;
    this.#emptyRun = bytes === 0 ? this.#emptyRun + 1 : 0;
    this.#unchecked += bytes + FRAME_COST_BYTES;
    return this.#unchecked >= BACKLOG_CHECK_BYTES;
  }

  /**
   * True when a frame of `bytes` would make {@link count} say the backlog
   * is due to be read: the check before a send (`unread_echoes.ts`).
   */
  due(bytes: number): boolean {
    return this.#unchecked + bytes + FRAME_COST_BYTES >= BACKLOG_CHECK_BYTES;
  }

  /**
   * Bytes (frame costs included) sent since {@link checked}: with the
   * backlog then and now, what the kernel took from Deno meanwhile.
   */
  get unchecked(): number {
    return this.#unchecked;
  }

  /** The backlog was read and checked: start counting again. */
  checked(): void {
    this.#unchecked = 0;
  }

  /**
   * Unread bytes with a frame cost for each unread frame.
   *
   * @param bufferedAmount The socket's `bufferedAmount`, in payload bytes.
   */
  unread(bufferedAmount: number): number {
    // bufferedAmount wraps negative past 2 GiB.
    const buffered = bufferedAmount < 0 ? 2 ** 31 : bufferedAmount;
    if (this.#windowBytes > 0) {
      this.#framesPerByte = this.#windowFrames / this.#windowBytes;
    }
    this.#windowFrames = 0;
    this.#windowBytes = 0;
    if (buffered === 0) this.#framesSinceDrained = this.#emptyRun;
    const frames = Math.min(
      Math.ceil(buffered * this.#framesPerByte) + this.#emptyRun,
      this.#framesSinceDrained,
    );
    return buffered + frames * FRAME_COST_BYTES;
  }
}

/**
 * What Deno keeps for a connection that has received a message of `bytes`,
 * for as long as the connection lives, in bytes: its read buffer grows to
 * hold the largest frame and never shrinks. 64 clients that each sent one
 * 1 MiB message and read its echo, then idled with nothing queued, took
 * RSS from 65 to 208 MiB, and back to 68 once they closed; to a room of
 * one (nothing sent back) 67 to 196 MiB; 256 KiB messages 67 to 102 MiB:
 * twice the message each (`deno run -A bench/held_reads.ts 64 1024 1
 * [/room/r]`, `… 64 256 1`, issue #20). Counted from {@link LET_GO_BYTES}:
 * below it the buffers are a connection's fixed cost. Uncounted, 64
 * non-readers under `deno task serve` held RSS past MAX_RSS_BYTES with the
 * budget far from full, and the process ended on `uncounted_memory`.
 */
export function heldReadBytes(bytes: number): number {
  return bytes >= LET_GO_BYTES ? 2 * bytes : 0;
}

/**
 * What a backlog costs the memory guard: plus messages in flight once the
 * connection has fallen behind.
 */
export function memoryCharge(backlog: number): number {
  return backlog >= BACKLOG_CHECK_BYTES ? backlog + IN_FLIGHT_BYTES : backlog;
}

/**
 * Binary messages from this size on have their memory freed once they are
 * sent or dropped ({@link letGo}), in bytes.
 */
export const LET_GO_BYTES = 64 * 1024;

/**
 * Frees a received binary message's memory now, once Deno has copied it
 * into its send (or the message was dropped): detaching the `ArrayBuffer`
 * (`transfer(0)`) releases its backing store at once, where the garbage
 * collector would wait, as V8 collects only on heap pressure and the
 * buffers live outside the heap. 32 clients each sending 8 MiB in 1 MiB
 * messages and never reading: a bare Deno echo peaked at RSS 440 MiB with
 * 161 MiB of such buffers and kept 329 MiB after the clients left; with
 * the detach, 243 MiB and 45 MiB (`/tmp` script, issue #20). Only for a
 * message nothing else holds: not a delayed echo, not a room's.
 */
export function letGo(data: string | ArrayBuffer, bytes: number): void {
  if (bytes >= LET_GO_BYTES && typeof data !== "string") data.transfer(0);
}
