/**
 * The close this service starts on one connection, from the decision to the
 * client's answer or the close timeout. A client past a limit is failed
 * (RFC 6455 §7.1.7: Deno drops it at its next frame) once its Close frame
 * has had a turn to go out; any other close keeps reading until the
 * client's Close (`close_handshake.ts`). Deno has no close
 * timeout, so the answer gets CLOSE_TIMEOUT_SECONDS, a deadline the
 * connection sweep keeps (`sweep.ts`). The connection creates one only once
 * it starts closing: a connection the client closes never pays for it.
 *
 * @module
 */
import type { CloseReason } from "../protocol/close_codes.ts";
import { sendClose, stopReading } from "./close_handshake.ts";

/** How a {@link ServerClose} closes. */
export interface ServerCloseOptions {
  /** CLOSE_TIMEOUT_SECONDS: how long the client may take to answer; 0 for ever. */
  timeoutSeconds: number;
  /** The client broke a limit: fail the connection, do not wait for it. */
  failing: boolean;
}

/** One close this service started: its reason, Close frame and deadline. */
export class ServerClose {
  /** The code and reason sent in the Close frame. */
  readonly reason: CloseReason;
  /** When the close was decided (ms since epoch). */
  readonly since: number = Date.now();
  readonly #socket: WebSocket;
  readonly #options: ServerCloseOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Our Close frame is sent and Deno keeps reading until the client's. */
  #awaiting = false;
  /** When to give up on the client's answer (ms since epoch), Infinity for none. */
  #answerBy = Infinity;
  #ended = false;

  constructor(
    socket: WebSocket,
    reason: CloseReason,
    options: ServerCloseOptions,
  ) {
    this.#socket = socket;
    this.reason = reason;
    this.#options = options;
  }

  /**
   * Sends the Close frame: from the next macrotask, because Deno 2.9 drops
   * the close frame when `close()` runs inside a message event while more
   * frames are in flight; at once when `now` (only from outside a message
   * event: the overload watch's timer, before the server's shutdown).
   */
  start(now: boolean): void {
    if (now) return this.#send();
    this.#timer = setTimeout(() => this.#send(), 0);
  }

  /** When the client's answer is due (ms since epoch), Infinity for never. */
  get answerBy(): number {
    return this.#answerBy;
  }

  /** True while a message from the client is read and dropped, not failed. */
  get awaitingAnswer(): boolean {
    return this.#awaiting;
  }

  /** Deno drops the connection at the client's next frame, as it would. */
  stopAwaiting(): void {
    if (!this.#awaiting) return;
    this.#awaiting = false;
    stopReading(this.#socket);
  }

  /** The answer's deadline passed: the sweep need not call again. */
  timedOut(): void {
    this.#answerBy = Infinity;
  }

  /** The connection ended: nothing more is sent. */
  ended(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
  }

  #send(): void {
    this.#timer = undefined;
    if (this.#ended) return;
    const { code, reason } = this.reason;
    try {
      // With `socket.close()` alone, Deno would drop the connection at the
      // next message the client had in flight, often before our Close went
      // out (the client then saw no close code: 0 in Deno, 1006 in
      // browsers). A client past a limit gets one macrotask, in which Deno
      // writes the Close and its messages are dropped unread, then Deno's
      // own drop at its next frame.
      const reading = sendClose(this.#socket, code, reason);
      if (!this.#options.failing) this.#awaiting = reading;
      else if (reading) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          stopReading(this.#socket);
        }, 0);
      }
    } catch {
      // Already closed by the peer.
    }
    // A client that never answers would keep the socket (and whatever
    // fragments it sends) until it leaves.
    const seconds = this.#options.timeoutSeconds;
    if (seconds > 0 && !this.#ended) {
      this.#answerBy = Date.now() + seconds * 1000;
    }
  }
}
