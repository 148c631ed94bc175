/**
 * What a connection does beyond a pure echo: the query options (`delay`,
 * `format=json`, `close_after`) and `/close` commands. Kept apart from the
 * connection so its per-message path reads in one screen; a connection with
 * no options never reaches this module.
 *
 * @module
 */
import {
  closeAfterEcho,
  type CloseReason,
  parseCloseCommand,
} from "../protocol/close_codes.ts";
import type { EchoOptions } from "./parse_options.ts";
import { payloadBytes } from "../protocol/utf8.ts";

/**
 * Bytes charged per waiting (`delay`) echo on top of its payload: the
 * received message, its queue entry and timer bookkeeping. 772-806 bytes per
 * empty echo, measured with `deno run -A bench/delay_cost.ts 100000`; with
 * the earlier guess of 64, a delay flood from 1,280 clients reached 621 MiB.
 */
export const QUEUED_MESSAGE_COST = 800;

/** How the options path talks back to its connection. */
export interface EchoOutput {
  /** Sends one frame through the connection's one send function. */
  send(data: string | ArrayBuffer): void;
  /** Closes with `reason` after what was sent. */
  close(reason: CloseReason): void;
  /** Called after {@link OptionsEcho.queuedBytes} grew, to check the limits. */
  queued(): void;
}

/** An echo waiting for its `delay`. */
interface DelayedEcho {
  data: string | ArrayBuffer;
  dueAt: number;
  /** Bytes it counts against the backlog. */
  cost: number;
  /** The close that follows it (Goodbye, close_after). */
  then: CloseReason | undefined;
}

/** The options path of one connection. */
export class OptionsEcho {
  readonly #output: EchoOutput;
  readonly #echo: EchoOptions;
  readonly #closeCommands: boolean;
  /** Echoes waiting for their delay, oldest first. */
  readonly #delayed: DelayedEcho[] = [];
  #queuedBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Messages accepted for echo. */
  #accepted = 0;
  #stopped = false;
  /** Set once the last echo before a close is accepted: ignore the rest. */
  #lastEchoAccepted = false;

  /**
   * @param output The connection's send and close.
   * @param echo The parsed query options.
   * @param closeCommands `/close`: text "CODE REASON" closes with that code.
   */
  constructor(output: EchoOutput, echo: EchoOptions, closeCommands: boolean) {
    this.#output = output;
    this.#echo = echo;
    this.#closeCommands = closeCommands;
  }

  /** Bytes held by echoes waiting for their delay. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True once the echo before a close was accepted: later messages are ignored. */
  get finished(): boolean {
    return this.#lastEchoAccepted;
  }

  /**
   * Handles one message that passed the limits.
   *
   * @param seq The message's number on the connection, from 1.
   * @param now `Date.now()` when it arrived.
   */
  receive(
    data: string | ArrayBuffer,
    bytes: number,
    seq: number,
    now: number,
  ): void {
    const isText = typeof data === "string";
    if (this.#closeCommands && isText) {
      const command = parseCloseCommand(data);
      if (command && "refusal" in command) {
        return this.#output.send(command.refusal);
      }
      if (command) return this.#output.close(command);
    }
    this.#accepted++;
    const echo = this.#echo;
    const reply = echo.format === "json"
      ? describeMessage(seq, data, bytes)
      : data;
    const then = closeAfterEcho(data) ??
      (this.#accepted === echo.closeAfter?.echoes
        ? echo.closeAfter.close
        : undefined);
    if (then) this.#lastEchoAccepted = true;
    if (echo.delayMs === 0) return this.#send(reply, then);
    const cost = payloadBytes(reply) + QUEUED_MESSAGE_COST;
    this.#delayed.push({ data: reply, dueAt: now + echo.delayMs, cost, then });
    this.#queuedBytes += cost;
    this.#timer ??= setTimeout(() => this.#flush(), echo.delayMs);
    this.#output.queued();
  }

  /** Drops the waiting echoes and their timer (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delayed.length = 0;
    this.#queuedBytes = 0;
  }

  /** Sends every delayed echo that is due, in order, and re-arms for the next. */
  #flush(): void {
    this.#timer = undefined;
    const now = Date.now();
    while (!this.#stopped) {
      const next = this.#delayed[0];
      if (next === undefined) return;
      if (next.dueAt > now) {
        this.#timer = setTimeout(() => this.#flush(), next.dueAt - now);
        return;
      }
      this.#delayed.shift();
      this.#queuedBytes -= next.cost;
      this.#send(next.data, next.then);
    }
  }

  #send(data: string | ArrayBuffer, then: CloseReason | undefined): void {
    this.#output.send(data);
    if (then) this.#output.close(then);
  }
}

/** `format=json`: one received message, described; binary data as base64. */
function describeMessage(
  seq: number,
  data: string | ArrayBuffer,
  bytes: number,
): string {
  const isText = typeof data === "string";
  return JSON.stringify({
    seq,
    type: isText ? "text" : "binary",
    bytes,
    receivedAt: new Date().toISOString(),
    data: isText ? data : new Uint8Array(data).toBase64(),
  });
}
