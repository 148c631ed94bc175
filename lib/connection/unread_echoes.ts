/**
 * What one connection's client has not read yet, and what the one send
 * function (`echo_connection.ts`) may add to it: the backlog estimated from
 * Deno's `bufferedAmount` (`backlog.ts`), its charge to the memory guard,
 * and the checks before and after each send.
 *
 * Deno cannot free what it queued for a client that does not read: a close
 * only queues a Close frame behind it (denoland/deno#25126), so the queue
 * stays until the client reads or goes. So the check runs before the send
 * too: a client already behind is closed instead of being given more, when
 * the message would take it past MAX_BUFFERED_BYTES or the connections
 * past MEMORY_BUDGET_BYTES, or while RSS is over MAX_RSS_BYTES (a flood of 256 non-readers each sent 6 MiB queued 1.1 GiB
 * behind the closes, RSS 1.3 GiB against MAX_RSS_BYTES 400 MiB, `deno run
 * -A bench/non_readers.ts echo`).
 *
 * A slow reader is a client that does not read, not one the server could
 * not write to: Deno writes a queued echo only when its loop turns, so
 * while the loop is held (a control-frame flood, a stopped process) a
 * pipelining client's echoes pile up unwritten, and after the hold its
 * waiting messages are all read and echoed in one turn. Those count as
 * unread in `bufferedAmount` though the client reads all the time
 * (an attack review: such clients were closed 1008 "slow reader" after a
 * flood). So a backlog over MAX_BUFFERED_BYTES is judged by progress
 * (`UnreadEchoes.refuses`).
 *
 * @module
 */
import type { Backlogged, MemoryGuard } from "../admission/memory_guard.ts";
import type { LimitReason } from "../limits.ts";
import {
  BACKLOG_CHECK_BYTES,
  FRAME_COST_BYTES,
  heldReadBytes,
  memoryCharge,
  SentFrames,
} from "./backlog.ts";
import { HELD_ABORT_AFTER_MS, type HeldSockets } from "./held_sockets.ts";
import { LOOP_HELD_GRACE_MS, loopHeld, type LoopTurns } from "./loop_turns.ts";
import type { KernelSaid, PeerAckBook } from "./peer_acks.ts";

/**
 * Messages a client shed for memory may still send before its connection is
 * aborted at the held sockets' next look rather than after
 * `HELD_ABORT_AFTER_MS`: the first may have been in flight when the Close
 * was sent; a second means it is not reading. 128 non-readers sending 1 MiB
 * messages from fresh addresses under `deno task start` (an attack review,
 * MAX_RSS_BYTES 256 MiB): 293 of their connections in 30 s before, 1245
 * after (each shed sooner), bystander worst gap 5.2 -> 1.5 s, not closed;
 * one run each at load 12 and 5.
 */
export const SHED_SENDS_BEFORE_ABORT = 2;

/**
 * How long after a client is shed for memory its messages do not count
 * toward {@link SHED_SENDS_BEFORE_ABORT}, in ms: what it sent before the
 * Close reached it (one round trip of pipelined sends, later when the
 * event loop is held) arrives in this time, and an honest client that
 * streams messages was reset (1006) instead of getting its 1013 (found in
 * a code review). Shorter than `HELD_ABORT_AFTER_MS` (1000 ms), or the
 * abort would never come sooner.
 */
export const SHED_SEND_GRACE_MS = 500;

/**
 * What the kernel must have taken of a connection's backlog between two
 * checks for its client to count as reading (`UnreadEchoes.reading`), in
 * bytes: above the error of the frame-cost estimate (`SentFrames.unread`),
 * a few frames' worth.
 */
export const DRAINED_BYTES = 4096;

/**
 * How long a client seen draining its backlog counts as reading, in ms:
 * two checks can come closer together than a slow network's reads on a
 * busy machine; a client that never reads is judged behind again this long
 * after its kernel buffers filled.
 */
export const READING_MS = 2000;

/**
 * How much more than it held when it last drained a client that read
 * lately ({@link READING_MS}) may be sent unasked in echoes of a whole
 * check's worth (64 KiB), in bytes: two checks' worth, so a pipeliner
 * whose reads of one 64 KiB echo come after its next message is not asked
 * (an attack review's pipeliner), while a client that never reads stops there: 2 s of
 * 64 KiB echoes as fast as it sent, unasked, were counted at 41 MiB
 * against a 16 MiB budget (overload_test). Smaller echoes keep the 2 s:
 * with this bound a reader of 16 KiB every 100 ms and one of 4 KiB every
 * 50 ms (8 KiB receive buffers) beside 256 non-readers were closed 1013
 * near the end of a run where the 2 s rule kept both (one run each).
 */
export const LATE_READS_BYTES = 2 * BACKLOG_CHECK_BYTES;

/**
 * How many re-checks in a row may find a backlog over MAX_BUFFERED_BYTES
 * that the kernel took nothing of and still put it down to a held loop
 * (`UnreadEchoes`' re-check): on a busy machine the watch's samples run
 * 250 ms late every second, so the loop counts as held at every re-check,
 * and a client that never read kept its backlog until Deno's ping timeout
 * closed it 1001 after 30 s (slow_reader_release_test with the service
 * stopped 300 ms in every 450). After a real hold the first re-check may
 * come before the turns that write; a reading client drains by the next.
 */
export const HELD_RECHECKS = 3;

/** Options for {@link UnreadEchoes}. */
export interface UnreadEchoesOptions {
  /** MAX_BUFFERED_BYTES, Infinity for none. */
  maxBufferedBytes: number;
  memory: MemoryGuard;
  /** Bytes the connection queued itself (delayed echoes). */
  queuedBytes: () => number;
  /** Where a socket whose Close cannot reach the client is aborted; none: not done. */
  held?: HeldSockets | undefined;
  /** The TCP peer, to find the socket in the kernel's table. */
  peer?: Deno.NetAddr | undefined;
  /** When the event loop was held; none: never taken as held (tests). */
  turns?: LoopTurns | undefined;
  /**
   * What the kernel says of the client's reading (`peer_acks.ts`), by
   * `peer`; none: Deno's count alone decides.
   */
  acks?: PeerAckBook | undefined;
  /**
   * The admission's lease: fresh to the guard (`MemoryGuard.admitsNew`)
   * until the first message or the release. @default none
   */
  lease?: object | undefined;
  /**
   * A check with no send found a slow reader ({@link UnreadEchoes.check}
   * run by the re-check after a hold): the connection closes it.
   * @default none: no re-check
   */
  onSlow?: (() => void) | undefined;
  /**
   * The kernel no longer has the socket (aborted, or its client left): no
   * descriptor is behind it, so a slot held for it stops counting against
   * MAX_CONNECTIONS (`Lease.socketGone`).
   * Not called when nobody can tell. @default none
   */
  onGone?: (() => void) | undefined;
}

/** One connection's unread echoes; `owner` is what the guard charges. */
export class UnreadEchoes {
  readonly #socket: WebSocket;
  readonly #owner: Backlogged;
  readonly #options: UnreadEchoesOptions;
  /** The admission's lease while the guard counts it fresh. */
  #lease: object | undefined;
  /** Counts what was sent, to estimate the backlog from `bufferedAmount`. */
  readonly #sent = new SentFrames();
  /** The backlog at the last {@link check}, its send included. */
  #checkedBacklog = 0;
  /** The backlog when the service started closing; undefined before. */
  #atClose: number | undefined;
  /** Deno let go of the socket: nothing is held any more. */
  #released = false;
  /** Handed to `HeldSockets`, which has not released it yet. */
  #inKernelHold = false;
  /** What Deno keeps for the largest message received (`heldReadBytes`). */
  #heldRead = 0;
  /**
   * Messages received more than {@link SHED_SEND_GRACE_MS} after the
   * service shed it for memory; -1: not shed.
   */
  #sinceShed = -1;
  /** When it was shed for memory (ms since epoch). */
  #shedAt = 0;
  /** The re-check armed after a judgement put off by a hold ({@link #recheck}). */
  #recheckTimer: ReturnType<typeof setTimeout> | undefined;
  /** Re-checks in a row that found the backlog over the limit, not drained. */
  #stalledRechecks = 0;
  /**
   * The client was not behind at the last {@link refuses}: what is sent to
   * it now is not held against MAX_BUFFERED_BYTES ({@link sent}).
   */
  #caughtUp = true;
  /** See {@link reading}. */
  #reading = true;
  /** When the backlog was last seen draining (`performance.now()`). */
  #drainedAt = -Infinity;
  /** The backlog then, in bytes. */
  #drainedBacklog = 0;

  constructor(
    socket: WebSocket,
    owner: Backlogged,
    options: UnreadEchoesOptions,
  ) {
    this.#socket = socket;
    this.#owner = owner;
    this.#options = options;
    this.#lease = options.lease;
  }

  /**
   * Before a send of `bytes`: the limit it would break, or undefined to
   * send it. Reads the backlog only when a check is due (once per
   * {@link BACKLOG_CHECK_BYTES}). MAX_BUFFERED_BYTES and MAX_RSS_BYTES
   * refuse only a client that is behind already (and, for MAX_RSS_BYTES,
   * not draining: {@link reading}): one message larger than
   * MAX_BUFFERED_BYTES still goes to a client that has read everything,
   * and a backlog over it is the client's fault only as {@link #slow} says.
   * The memory budget refuses what the charge would grow by (the message,
   * and `IN_FLIGHT_BYTES` once it puts the client behind) for a
   * client behind and not reading, and for a message larger than
   * BACKLOG_CHECK_BYTES to anyone: Deno holds it until the kernel
   * takes it, and 64 clients that never read, each given one 1 MiB echo at once unchecked, were counted
   * at 157-204 MiB against a 96 MiB budget (issue #20). An echo of up to
   * one check's worth to a client that reads ({@link reading}) goes
   * unasked and is charged after (one of 64 KiB only within
   * {@link LATE_READS_BYTES} of what it held when it last drained):
   * asked for, a 64 KiB echo with the budget full waited, and the client's
   * next message found it waiting and shed it (20 of 20 readers on a small
   * receive window, 64 KiB every 200 ms, beside 256 clients that never
   * read; a reader pipelining 64 KiB every 50 ms: attack reviews).
   */
  refuses(bytes: number, late = false): LimitReason | undefined {
    if (!this.#sent.due(bytes)) return undefined;
    const backlog = this.bytes();
    const behind = backlog >= BACKLOG_CHECK_BYTES;
    this.#caughtUp = !behind;
    if (backlog > 0 && this.#slow(backlog + bytes)) return "slow_reader";
    // Drained is read at every check: a client caught up at one check and
    // behind at the next (its reads came late) drained in between (R7).
    const drained = this.#drained(backlog);
    const said = this.#said();
    const reading = said === "acking" ||
      said !== "stalled" && (!behind || drained || this.#readLately());
    this.#reading = reading;
    if (
      reading && (bytes < BACKLOG_CHECK_BYTES ||
        bytes === BACKLOG_CHECK_BYTES &&
          backlog <= this.#drainedBacklog + LATE_READS_BYTES)
    ) return undefined;
    return this.#options.memory.refuses(
      this.#owner,
      this.#charge(backlog + bytes + FRAME_COST_BYTES),
      !reading,
      late,
    );
  }

  /**
   * The client was reading at the last {@link refuses}: not behind, or
   * behind with its backlog draining lately ({@link #readLately}). A
   * `memory_budget` refusal then means the echo may wait for room
   * (`budget_waits.ts`) rather than its client being closed. Where the
   * kernel says anything (`peer_acks.ts`), its word decides: acking reads,
   * stalled does not, however Deno's queue drains into the kernel's
   * buffers.
   */
  get reading(): boolean {
    const said = this.#said();
    return said === undefined ? this.#reading : said === "acking";
  }

  /**
   * The kernel says the client keeps acknowledging what it is sent
   * (`peer_acks.ts`): the memory guard judges its echoes beside what the
   * connections not asked to close hold.
   */
  get acking(): boolean {
    return this.#said() === "acking";
  }

  /** What the kernel says of the client, when anything. */
  #said(): KernelSaid | undefined {
    const { acks, peer } = this.#options;
    return acks && peer ? acks.said(peer, performance.now()) : undefined;
  }

  /**
   * True when Deno handed the kernel at least {@link DRAINED_BYTES} of
   * this connection's backlog since the last {@link check} (the backlog
   * then plus what was sent since, less the backlog now); its time is kept
   * for {@link #readLately}. A client on a slow network (a small receive
   * window) is behind at most checks but drains between them; one that
   * never reads drains only until the kernel's buffers are full, then not
   * at all. Read only when a check is due, from the `bufferedAmount` read
   * there: no work per message. Taking every client behind for one that
   * does not read closed slow readers (8 KiB receive buffer, 16 KiB every
   * 100 ms, reading at 200 KB/s) 1013 beside 256 clients that never read,
   * 3 of 3 runs (an attack review).
   */
  #drained(backlog: number): boolean {
    const taken = this.#checkedBacklog + this.#sent.unchecked - backlog;
    if (taken < DRAINED_BYTES) return false;
    this.#drainedAt = performance.now();
    this.#drainedBacklog = backlog;
    return true;
  }

  /**
   * True when the client drained within {@link READING_MS}
   * ({@link #drained}), or the loop is held, when Deno writes nothing
   * ({@link loopHeld}): two checks can come closer together than a slow
   * network's reads on a busy machine. It decides whether an echo the
   * budget has no room for waits rather than its client being closed, and
   * the guard's shed order, and an echo sent unasked within
   * {@link LATE_READS_BYTES}.
   */
  #readLately(): boolean {
    const now = performance.now();
    if (now - this.#drainedAt < READING_MS) return true;
    const turns = this.#options.turns;
    return turns !== undefined && loopHeld(turns, now);
  }

  /**
   * After a send: counts it, and once a check is due re-reads the backlog
   * and charges it (`check`). A message sent to a client that had read all
   * before it (`#caughtUp`) is not held against it: one message larger
   * than MAX_BUFFERED_BYTES still goes to such a client, again and again
   * (an attack review: an 8 MiB reader at MAX_MESSAGE_BYTES 16 MiB was closed
   * 1008 on its second message). A client behind gets no such allowance: a
   * non-reader that stopped sending with its backlog past the limit was
   * otherwise never closed.
   *
   * @returns True when the client is a slow reader ({@link #slow}).
   */
  sent(bytes: number): boolean {
    const own = this.#caughtUp ? bytes : 0;
    return this.#sent.count(bytes) && this.check(own);
  }

  /**
   * Re-reads the backlog and charges it; true when the client is a slow
   * reader ({@link #slow}).
   *
   * @param sent Bytes just sent that do not count against the limit.
   */
  check(sent = 0): boolean {
    this.#sent.checked();
    const backlog = this.bytes();
    this.#options.memory.charge(this.#owner, this.#charge(backlog));
    const slow = this.#slow(backlog, sent);
    this.#checkedBacklog = backlog;
    return slow;
  }

  /**
   * The one slow-reader rule: a backlog of `backlog` bytes, the send at
   * hand included, is the client's fault when it is over
   * MAX_BUFFERED_BYTES, has not shrunk since the last check (a client that
   * reads drains it faster than the echoes come), and the loop is not held
   * ({@link loopHeld}): Deno writes nothing while it is, and the echoes of
   * what a pipelining client sent meanwhile are all queued in the turn
   * after. A client that never reads is closed at the first check over the
   * limit while the loop is prompt, as before; one whose backlog passed
   * the limit during a hold must shrink it at every check after. The
   * memory budget bounds what is queued meanwhile.
   */
  #slow(backlog: number, sent = 0): boolean {
    if (backlog - sent <= this.#options.maxBufferedBytes) return false;
    if (backlog < this.#checkedBacklog) return false;
    const turns = this.#options.turns;
    if (turns === undefined || !loopHeld(turns, performance.now())) {
      return true;
    }
    this.#recheck();
    return false;
  }

  /**
   * A judgement put off by a hold is made again {@link LOOP_HELD_GRACE_MS}
   * later, and again each grace while the backlog stays over
   * MAX_BUFFERED_BYTES: checks come with sends, and a client that never
   * reads and sent all it will during the hold was never judged (32
   * clients each sending 8 MiB at load 40-47: 5 kept their echoes until
   * Deno's ping timeout closed them 1001, non_reader_flood_test). Its
   * backlog may shrink as the kernel's buffers take what the turns after
   * the hold write; one that stops shrinking over the limit is the
   * client's, as at a send's check, and so is one the kernel took nothing
   * of at {@link HELD_RECHECKS} re-checks in a row though the loop still
   * counts as held.
   */
  #recheck(): void {
    const onSlow = this.#options.onSlow;
    if (onSlow === undefined || this.#recheckTimer !== undefined) return;
    const timer = setTimeout(() => {
      this.#recheckTimer = undefined;
      if (this.#released || this.#atClose !== undefined) return;
      const before = this.#checkedBacklog;
      if (this.check()) return onSlow();
      if (this.#checkedBacklog <= this.#options.maxBufferedBytes) {
        this.#stalledRechecks = 0;
        return;
      }
      // The timer ran, so the loop turned and Deno could write: a backlog
      // the kernel took nothing of is the client's, held loop or not.
      const taken = before - this.#checkedBacklog >= DRAINED_BYTES;
      this.#stalledRechecks = taken ? 0 : this.#stalledRechecks + 1;
      if (this.#stalledRechecks >= HELD_RECHECKS) return onSlow();
      this.#recheck();
    }, LOOP_HELD_GRACE_MS);
    // Never what keeps the process alive.
    Deno.unrefTimer(timer);
    this.#recheckTimer = timer;
  }

  /** Stops {@link #recheck}: the connection is closing or gone. */
  #stopRecheck(): void {
    clearTimeout(this.#recheckTimer);
    this.#recheckTimer = undefined;
  }

  /**
   * A message of `bytes` arrived at `now` (ms since epoch): what Deno keeps
   * for it from now on (`heldReadBytes`) is charged once it is the largest
   * yet.
   */
  received(bytes: number, now: number = Date.now()): void {
    if (
      this.#sinceShed >= 0 && now - this.#shedAt > SHED_SEND_GRACE_MS &&
      ++this.#sinceShed === SHED_SENDS_BEFORE_ABORT
    ) this.#hasten();
    this.#settle();
    const held = heldReadBytes(bytes);
    if (held <= this.#heldRead || this.#released) return;
    this.#heldRead = held;
    // Not shed for at once: the message is in already, and its echo (or
    // the sample) decides (`MemoryGuard.charge`).
    this.#options.memory.charge(this.#owner, this.charge(), false);
  }

  /**
   * Unread echoes (payload plus a frame cost for each) and delayed echoes,
   * in bytes; once closing, the backlog as it was at the close, until
   * {@link release}.
   */
  bytes(): number {
    if (this.#released) return 0;
    if (this.#atClose !== undefined) return this.#atClose;
    return this.#sent.unread(this.#socket.bufferedAmount) +
      this.#options.queuedBytes();
  }

  /**
   * The charge for the memory guard: the backlog plus messages in flight,
   * and what Deno keeps for the largest message received.
   */
  charge(): number {
    return this.#charge(this.bytes());
  }

  /**
   * The message in flight once behind (`memoryCharge`) sits in the read
   * buffer Deno keeps: counted once, as the larger of the two.
   */
  #charge(backlog: number): number {
    if (this.#released) return 0;
    const inFlight = memoryCharge(backlog) - backlog;
    return backlog + Math.max(inFlight, this.#heldRead);
  }

  /**
   * The service starts closing: the backlog is read now, while the socket
   * is OPEN (Deno's `bufferedAmount` reads 0 after), and counts until
   * {@link release}, as Deno keeps the echoes queued behind the Close.
   *
   * @param now Milliseconds since epoch.
   */
  closing(breach: LimitReason | undefined, now: number = Date.now()): void {
    this.#stopRecheck();
    this.#atClose ??= this.bytes();
    // A client failed for a limit while echoes wait ahead of the Close
    // will not read up to it: its connection is aborted. So is one shed
    // for memory with none queued in Deno: an echo it had no room for was
    // not queued (`refuses`), its unread echoes are in the kernel's
    // buffers, and its Close waits behind them.
    const shed = breach === "memory_budget" || breach === "rss";
    if (shed && this.#sinceShed < 0) {
      this.#sinceShed = 0;
      this.#shedAt = now;
    }
    if (breach !== undefined && (this.#atClose > 0 || shed)) {
      this.abandoned(HELD_ABORT_AFTER_MS);
    }
  }

  /**
   * The Close did not reach the client, or was never answered: the
   * connection is aborted through the kernel (`held_sockets.ts`), and what
   * it held counts until its socket is gone or the kernel cannot be asked;
   * `gone` runs only when the kernel says the socket is gone.
   *
   * @param afterMs How long the client still gets to read up to the Close.
   */
  abandoned(afterMs = 0, gone?: () => void): void {
    const { held, peer } = this.#options;
    if (!held || !peer || this.#inKernelHold || this.#released) return;
    this.#inKernelHold = true;
    held.hold(peer, (kernelLetGo) => {
      this.#inKernelHold = false;
      this.release();
      // Without the kernel's word only Deno's close event says it is gone.
      if (!kernelLetGo) return;
      gone?.();
      this.#options.onGone?.();
    }, afterMs);
  }

  /**
   * A client shed for memory that keeps sending is not reading up to the
   * Close: every message it sends, Deno reads (at least twice its size kept,
   * `heldReadBytes`) until its socket is aborted, so that is done at the
   * held sockets' next look, not after `HELD_ABORT_AFTER_MS`.
   */
  #hasten(): void {
    const { held, peer } = this.#options;
    if (held && peer && this.#inKernelHold) held.hasten(peer);
  }

  /**
   * Deno reported the socket closed: nothing is held, unless the socket is
   * still in the kernel's table with echoes queued (Deno keeps them until a
   * write fails): then until `HeldSockets` finds it gone.
   */
  finished(): void {
    this.#stopRecheck();
    if (!this.#inKernelHold) this.release();
  }

  /** Deno let go of the socket: nothing is held, the guard forgets it. */
  release(): void {
    this.#stopRecheck();
    this.#released = true;
    this.#settle();
    this.#options.memory.charge(this.#owner, 0);
  }

  /** The guard no longer counts the admission as fresh: once is enough. */
  #settle(): void {
    if (this.#lease === undefined) return;
    this.#options.memory.settled(this.#lease);
    this.#lease = undefined;
  }
}
