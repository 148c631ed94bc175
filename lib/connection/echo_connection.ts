/**
 * One echo connection: every message passes the size and rate limits
 * (`message_limits.ts`) and is sent back unchanged through
 * {@link EchoConnection.send}, the one send function, which keeps the
 * backlog within MAX_BUFFERED_BYTES and the process-wide memory budget
 * before and after each send (`unread_echoes.ts`). What a connection is given is in
 * `connection_options.ts`; query options and `/close` commands live in
 * `apply_options.ts`, so a pure echo pays one branch for them; a close this
 * service starts is a `ServerClose` (`server_close.ts`); what it moved is
 * counted by `traffic.ts`, and what a finished connection logs is
 * `close_report.ts`.
 *
 * @module
 */
import { closeAfterEcho, type CloseReason } from "../protocol/close_codes.ts";
import type { Swept } from "./sweep.ts";
import { isPlainEcho } from "./parse_options.ts";
import { type PushOutput, streamPacing, StreamPush } from "./stream_push.ts";
import type { Backlogged } from "../admission/memory_guard.ts";
import { networkKey } from "../admission/client_ip.ts";
import { UnreadEchoes } from "./unread_echoes.ts";
import { letGo } from "./backlog.ts";
import { Traffic } from "./traffic.ts";
import {
  limitClose,
  type LimitReason,
  type LimitRow,
  LIMITS,
  type ShedCause,
} from "../limits.ts";
import { type EchoOutput, OptionsEcho } from "./apply_options.ts";
import type { Activity, Closable } from "../admission/slots.ts";
import {
  type ConnectionOptions,
  type ConnectionServices,
  OPEN_TIMEOUT_MS,
  type RelayTarget,
  SLOW_READER_SLOT_HOLD_MS,
} from "./connection_options.ts";
import { MessageLimits } from "./message_limits.ts";
import { GIVE_UP_MS, WAIT_FOR_ROOM_MS } from "../admission/budget_waits.ts";
import { payloadBytes } from "../protocol/utf8.ts";
import { ServerClose } from "./server_close.ts";
import { CLOSE_TIMEOUT_REASON, reportClose } from "./close_report.ts";
import { turnNow } from "./turn_clock.ts";

/**
 * Echoes every message on `socket` back unchanged, within the limits in
 * `options.config`. Text "Goodbye" is echoed and then closes with 1000
 * (pywebsocket's echo handler).
 */
export function serveEcho(socket: WebSocket, options: ConnectionOptions): void {
  options.lease.track(new EchoConnection(socket, options));
}

/** One accepted WebSocket: the socket's listener, limits and bookkeeping. */
class EchoConnection
  implements
    Closable,
    Swept,
    Backlogged,
    EchoOutput,
    PushOutput,
    RelayTarget,
    EventListenerObject {
  readonly #socket: WebSocket;
  readonly #services: ConnectionServices;
  readonly #options: ConnectionOptions;
  /** `Date.now()`: half the cost of `performance.now()` per message. */
  readonly #openedAt = Date.now();
  /** MAX_MESSAGE_BYTES and the three message rates. */
  readonly #limits: MessageLimits;
  /** Query options and `/close`; undefined for a pure echo. */
  readonly #responder: OptionsEcho | undefined;
  /** `/stream`'s own messages; undefined elsewhere. */
  readonly #push: StreamPush | undefined;
  /** When the client last sent a message (or opened), for the idle sweep. */
  lastActiveAt: number = this.#openedAt;

  /** The client's network, for the memory guard's sheds (read only then). */
  get network(): string {
    return networkKey(
      this.#options.ip,
      this.#services.config.ipv6PrefixLength,
    );
  }
  /** For the memory guard's sheds: the client drains its backlog. */
  get reading(): boolean {
    return this.#unread.reading;
  }
  /** For the memory guard's room: the kernel says the client acknowledges. */
  get acking(): boolean {
    return this.#unread.acking;
  }
  /**
   * Deadlines the sweep keeps (ms since epoch, Infinity for none): until the
   * socket opens, when to give up on it; once the service has sent its
   * close, when to give up on the answer (`ServerClose.answerBy`). Timers
   * per connection would cost more than the rest of a handshake's
   * bookkeeping (`sweep.ts`).
   */
  #openBy: number;
  /** The close timed out: the slot stays taken until Deno lets the socket go. */
  #abandoned = false;
  /** Still open when a stop's grace ran out: its close was not answered. */
  #givenUp = false;
  readonly #traffic: Traffic;
  /** What the client has not read: checked before and after each send. */
  readonly #unread: UnreadEchoes;
  /** The close this service initiated, if any. */
  #close: ServerClose | undefined;
  #breach: LimitReason | undefined;
  #finished = false;
  #opened = false;
  /**
   * The one send waiting for room in the memory budget
   * (`budget_waits.ts`), not charged while it waits (a plain echo is the
   * received message itself, in the process from the moment Deno read
   * it). `echo`: a plain echo, freed once sent (`letGo`), which a
   * `Goodbye` closes after.
   */
  #waiting:
    | { data: string | ArrayBuffer; bytes: number; echo: boolean }
    | undefined;

  constructor(socket: WebSocket, options: ConnectionOptions) {
    const { config } = options.services;
    this.#socket = socket;
    this.#services = options.services;
    this.#options = options;
    this.#traffic = new Traffic(options.services.metrics, {
      to: options.services.payloadSeen,
      owner: this,
    });
    const now = this.#openedAt;
    this.#limits = new MessageLimits(
      config,
      options.lease.clientMessageRate,
      now,
    );
    this.#responder = isPlainEcho(options.echo) && !options.closeCommands
      ? undefined
      : new OptionsEcho(this, options.echo, options.closeCommands);
    this.#unread = new UnreadEchoes(socket, this, {
      maxBufferedBytes: config.maxBufferedBytes || Infinity,
      memory: options.services.memory,
      queuedBytes: () => this.#responder?.queuedBytes ?? 0,
      held: options.services.held,
      peer: options.peer,
      turns: options.services.turns,
      acks: options.services.acks,
      lease: options.lease,
      onSlow: () => this.#breached("slow_reader"),
      onGone: () => options.lease.socketGone(),
    });
    this.#push = options.stream &&
      new StreamPush(this, {
        ...options.stream,
        ...streamPacing(config, now, options.lease.clientStreamBytes()),
      });
    socket.binaryType = "arraybuffer";
    // The connection is its own listener (`handleEvent`): no closure per
    // event type per connection. Errors are followed by a close event, which
    // does the bookkeeping, so they need no listener.
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    this.#openBy = now + (options.openTimeoutMs ?? OPEN_TIMEOUT_MS);
    options.services.sweep.add(this);
  }

  /** For the sweep: the nearer of the open deadline and the close timeout. */
  get dueAt(): number {
    return Math.min(this.#openBy, this.#closeBy);
  }

  get #closeBy(): number {
    return this.#close?.answerBy ?? Infinity;
  }

  get #closing(): CloseReason | undefined {
    return this.#close?.reason;
  }

  /** For the sweep: the idle timeout counts only while open and not closing. */
  get idleFrom(): number {
    return this.#opened && !this.#closing ? this.lastActiveAt : Infinity;
  }

  /** Called by the sweep once `dueAt` has passed: the nearer deadline acts. */
  due(): void {
    if (this.#closeBy <= this.#openBy) this.#closeTimedOut();
    else this.#neverOpened();
  }

  /**
   * A stop's grace ran out with this connection still open: the close
   * event Deno fires when its server stops (code 1005, wasClean true) is
   * no answer from the client.
   */
  givenUp(): void {
    this.#givenUp = true;
  }

  /**
   * For the overload watch: read when an incident is attributed, and at
   * each sample while no complete message has come (`own_peers.ts`).
   */
  activity(): Activity {
    return {
      opened: this.#opened,
      startedAt: this.#openedAt,
      messages: this.#traffic.messages,
      bytesIn: this.#traffic.bytesIn + this.#traffic.bytesDiscarded,
      peer: this.#options.peer,
      sent: this.#traffic.messagesOut,
      lastMessageAt: this.lastActiveAt,
      closingSince: this.#close?.since,
    };
  }

  /**
   * Counted as leaked by the overload watch (`ConnectionRegistry.leak`):
   * finished as never opened now, its slot freed.
   */
  leaked(): void {
    this.#neverOpened();
  }

  /** The socket's `open`, `message` and `close` events. */
  handleEvent(event: Event): void {
    if (event.type === "message") {
      return this.#onMessage((event as MessageEvent).data);
    }
    if (event.type === "open") return this.#onOpen();
    if (event.type === "close") {
      if (this.#abandoned) return this.#letGo();
      const { code, reason, wasClean } = event as CloseEvent;
      this.#onClose(code, reason, wasClean);
    }
  }

  /**
   * Closes with `reason` unless a close is already under way; safe in any
   * state. `now` sends the close frame at once: only from outside a message
   * event (the overload watch's timer, before the server's shutdown).
   */
  close(reason: CloseReason, now = false): void {
    if (this.#closing || this.#finished) return;
    this.#unread.closing(this.#breach);
    this.#close = new ServerClose(this.#socket, reason, {
      timeoutSeconds: this.#services.config.closeTimeoutSeconds,
      failing: this.#breach !== undefined,
    });
    this.#responder?.stop();
    this.#push?.stop();
    this.#dropWaiting();
    // A member the service closes leaves its room now: a peer that does not
    // read can hold the close handshake open for long.
    this.#options.relay?.closed();
    this.#close.start(now);
  }

  /**
   * The one send function: every frame the service sends (echo, delayed
   * echo, JSON, prelude, `/close` replies) is counted here and its backlog
   * checked, empty frames included.
   * A send the memory budget has no room for, to a client that reads,
   * waits for room ({@link #mayWait}).
   *
   * @param bytes The payload's length when the caller has it already (an
   * echo was measured on arrival), so it is not counted twice per message.
   */
  send(data: string | ArrayBuffer, bytes: number = payloadBytes(data)): void {
    // One send may wait, and nothing overtakes it.
    if (!this.#roomForNext()) return this.#refused("memory_budget");
    // Reading bufferedAmount is an op call: once per 64 KiB sent.
    const refused = this.#unread.refuses(bytes);
    if (refused === undefined) return this.#deliver(data, bytes);
    if (this.#mayWait(refused)) return this.#wait(data, bytes, false);
    this.#refused(refused);
  }

  /**
   * A send the memory budget has no room for, to a client that reads
   * (`UnreadEchoes.reading`), waits for room instead of its client being
   * closed: plain echoes, delayed and JSON echoes, a room's messages alike
   * (an echo with query options of 64 KiB or more closed its caught-up
   * client at once where the plain echo waited).
   */
  #mayWait(refused: LimitReason): boolean {
    return refused === "memory_budget" && this.#unread.reading;
  }

  #wait(data: string | ArrayBuffer, bytes: number, echo: boolean): void {
    this.#waiting = { data, bytes, echo };
    this.#services.memory.wait(this);
  }

  /** Hands one frame to Deno, counted and its backlog checked. */
  #deliver(data: string | ArrayBuffer, bytes: number): void {
    this.#socket.send(data);
    this.#traffic.sent(bytes);
    if (this.#unread.sent(bytes)) this.#breached("slow_reader");
  }

  /**
   * The plain echo of a message: sent through the one send function's
   * checks, except that an echo the memory budget has no room for, to a
   * client that reads (`UnreadEchoes.reading`), waits for room
   * (`budget_waits.ts`) instead of its client being closed. Later
   * messages wait behind it, in order.
   */
  #echo(data: string | ArrayBuffer, bytes: number): void {
    // One message may wait: a client that sends on while its echo waits
    // is not waiting for it, unless the kernel says it reads.
    if (!this.#roomForNext()) {
      letGo(data, bytes);
      return this.#refused("memory_budget");
    }
    const refused = this.#unread.refuses(bytes);
    if (refused === undefined) {
      this.#deliver(data, bytes);
      return this.#echoed(data, bytes);
    }
    if (this.#mayWait(refused)) return this.#wait(data, bytes, true);
    letGo(data, bytes);
    this.#refused(refused);
  }

  /** After an echo went: its message is freed, `Goodbye` closes. */
  #echoed(data: string | ArrayBuffer, bytes: number): void {
    letGo(data, bytes);
    const then = closeAfterEcho(data);
    if (then) this.close(then);
  }

  /**
   * For the memory guard's waits: sends the echo waiting if the budget
   * lets (`budget_waits.ts` says when a wait makes room and when it gives
   * up). True once nothing waits.
   */
  retry(waitedMs: number): boolean {
    const echo = this.#waiting;
    if (echo === undefined) return true;
    if (this.#closing) {
      this.#dropWaiting();
      return true;
    }
    const refused = this.#unread.refuses(
      echo.bytes,
      waitedMs >= WAIT_FOR_ROOM_MS,
    );
    // The room made may have shed this client: its close freed the echo.
    if (this.#waiting !== echo) return true;
    if (
      refused === "memory_budget" && this.#unread.reading &&
      waitedMs < GIVE_UP_MS && !this.#closing
    ) return false;
    this.#waiting = undefined;
    if (refused) {
      if (echo.echo) letGo(echo.data, echo.bytes);
      this.#refused(refused);
    } else {
      this.#deliver(echo.data, echo.bytes);
      if (echo.echo) this.#echoed(echo.data, echo.bytes);
    }
    return true;
  }

  /**
   * True when nothing waits for room, or nothing waits any more once room
   * was made for it at once. A client the kernel says acknowledges what it
   * is sent (`peer_acks.ts`) and sends its next message while an echo waits
   * is a pipelining reader, not one that stopped reading: the room its echo
   * would get after `WAIT_FOR_ROOM_MS` is made now (the largest holders not
   * yet shed close, those that do not read first, readers last), rather
   * than its client being shed. Beside 128 clients of 1 MiB that never
   * read, the honest readers were closed so (issue #20, stranger19 F2).
   */
  #roomForNext(): boolean {
    if (this.#waiting === undefined) return true;
    if (!this.#unread.acking) return false;
    return this.retry(WAIT_FOR_ROOM_MS) && !this.#closing && !this.#finished;
  }

  /** Frees the send waiting, if any: the connection closes. */
  #dropWaiting(): void {
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    if (waiting.echo) letGo(waiting.data, waiting.bytes);
    this.#waiting = undefined;
  }

  /** A send refused before Deno queued it: a client behind is closed instead. */
  #refused(reason: LimitReason): void {
    if (reason === "memory_budget" || reason === "rss") {
      return this.#services.memory.shedOne(this, reason);
    }
    this.#breached(reason);
  }

  /** For `/stream`: the backlog, or Infinity while the server sheds load. */
  unreadBytes(): number {
    return this.#services.memory.shedding ? Infinity : this.#unread.bytes();
  }

  /** For `/stream`: the client reads what it is sent, so it is not idle. */
  touch(): void {
    this.lastActiveAt = Date.now();
  }

  relay(data: string | ArrayBuffer, bytes: number, now: number): void {
    if (this.#closing || this.#finished) return;
    this.lastActiveAt = now;
    this.send(data, bytes);
  }

  /** The options path queued a delayed echo: its bytes count at once. */
  queued(): void {
    if (this.#unread.check()) this.#breached("slow_reader");
  }

  /**
   * Bytes this connection holds now, for the memory guard: its backlog,
   * messages in flight once it has fallen behind, and what Deno keeps for
   * the largest message it received. Reads `bufferedAmount`.
   */
  recount(): number {
    return this.#unread.charge();
  }

  /** Called by the memory guard: the server is overloaded. */
  shed(cause: ShedCause): void {
    this.#breached(cause);
  }

  /** Called by the idle sweep. */
  closeIdle(): void {
    this.#breached("idle");
  }

  /**
   * The client did not answer the close: finish it as 1006 for the log and
   * the metrics, but keep the slot (and the connection where the overload
   * watch sees it) until Deno reports the socket gone; recycling the
   * listener is what frees it.
   */
  #closeTimedOut(): void {
    this.#close?.timedOut();
    if (this.#finished) return;
    this.#abandoned = true;
    // CLOSE_TIMEOUT_SECONDS was the client's grace: aborted at once.
    this.#unread.abandoned(0, () => this.#letGo());
    this.#close?.stopAwaiting();
    this.#services.metrics.closeTimeouts++;
    this.#services.metrics.closesUnanswered++;
    this.#onClose(1006, CLOSE_TIMEOUT_REASON);
  }

  /**
   * Deno let go of a socket whose close had timed out (its close event), or
   * the kernel no longer has it (aborted): free its slot, once.
   */
  #letGo(): void {
    if (!this.#abandoned) return;
    this.#abandoned = false;
    this.#services.metrics.closesUnanswered--;
    this.#unread.release();
    this.#options.lease.release();
  }

  #onOpen(): void {
    // Given up on (its open deadline, or counted as leaked) before it
    // opened: its slot is gone, so it goes too.
    if (this.#finished) return this.#socket.close();
    const { metrics } = this.#services;
    this.#opened = true;
    this.#openBy = Infinity;
    metrics.connectionsOpen++;
    metrics.connectionsTotal++;
    for (const text of this.#options.prelude) this.send(text);
    this.#push?.start();
    this.#options.relay?.opened(this);
  }

  #onMessage(data: string | ArrayBuffer): void {
    if (this.#closing) return this.#discard(data);
    if (this.#responder?.finished) return;
    const bytes = payloadBytes(data);
    const now = turnNow();
    this.lastActiveAt = now;
    this.#traffic.received(bytes);
    this.#unread.received(bytes, now);
    const broken = this.#limits.broken(bytes, now);
    if (broken) return this.#breached(broken);
    if (this.#options.relay) return this.#options.relay.received(data, bytes);
    if (this.#responder) {
      return this.#responder.receive(data, bytes, this.#traffic.messages, now);
    }
    this.#echo(data, bytes);
  }

  /**
   * A message that arrived after this service started closing: dropped
   * unanswered (RFC 6455 §5.5.1). It still takes from the rate limits, and a
   * client past them, or past MAX_MESSAGE_BYTES, is no longer waited for.
   */
  #discard(data: string | ArrayBuffer): void {
    const bytes = payloadBytes(data);
    letGo(data, bytes);
    const now = turnNow();
    this.#unread.received(bytes, now);
    // Seen, for the overload watch's count of what the app never saw.
    this.#traffic.discarded(bytes);
    if (!this.#close?.awaitingAnswer) return;
    if (this.#limits.broken(bytes, now)) {
      this.#close.stopAwaiting();
    }
  }

  /** Closes for a broken limit, as its row of `LIMITS` says. */
  #breached(reason: LimitReason): void {
    if (this.#closing) return;
    this.#breach = reason;
    if ((LIMITS[reason] as LimitRow).keepsSlot) {
      this.#options.lease.holdFor(SLOW_READER_SLOT_HOLD_MS);
    }
    this.#services.metrics.breached(reason);
    this.close(limitClose(reason, this.#services.config));
  }

  /** The handshake never completed: finish as if closed, with 1006. */
  #neverOpened(): void {
    this.#openBy = Infinity;
    if (this.#opened || this.#finished) return;
    try {
      this.#socket.close();
    } catch {
      // Not open: nothing to close on Deno's side that JS can reach.
    }
    this.#onClose(1006, "the handshake never completed");
  }

  /** Deno can fire `close` twice (after an idle timeout): count it once. */
  #onClose(code: number, reason: string, wasClean = false): void {
    if (this.#finished) return;
    this.#finished = true;
    // Known only while Deno kept reading for the client's Close: it then
    // fires this event for that Close (clean), or when its server stops
    // past the grace (clean too, hence #givenUp). Under `deno serve`, Deno
    // closes and stops reading itself: unknown.
    const answered = this.#abandoned
      ? false
      : this.#close?.awaitingAnswer
      ? wasClean && !this.#givenUp
      : undefined;
    this.#services.sweep.delete(this);
    this.#close?.ended();
    this.#responder?.stop();
    this.#push?.stop();
    this.#dropWaiting();
    const { metrics, memory } = this.#services;
    const { lease, ip, id } = this.#options;
    // A close never answered keeps what Deno still queues for it (echoes a
    // client that never reads is never sent) counted until Deno lets go of
    // the socket, re-read each second by the guard: the budget holds it,
    // and the overload watch does not take it for uncounted growth.
    if (this.#abandoned) memory.charge(this, this.recount());
    else this.#unread.finished();
    this.#options.relay?.closed();
    if (this.#opened) metrics.connectionsOpen--;
    const timedOut = this.#abandoned;
    if (!timedOut) lease.release();
    reportClose(this.#services, {
      id,
      ip,
      // A dropped socket reports code 0; record the code the service sent.
      code: timedOut ? 1006 : this.#closing?.code ?? code,
      reason: timedOut ? reason : this.#closing?.reason ?? reason,
      limit: this.#breach,
      // A close this service started: did the client's Close come back?
      ...(this.#close ? { closeWaitMs: Date.now() - this.#close.since } : {}),
      ...(answered === undefined ? {} : { answered }),
      openedAt: this.#openedAt,
      messages: this.#traffic.messages,
      bytesIn: this.#traffic.bytesIn,
      bytesOut: this.#traffic.bytesOut,
    });
  }
}
