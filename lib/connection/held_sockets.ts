/**
 * Connections this service closed whose Close cannot reach the client: Deno
 * still holds echoes the client never read, queued ahead of the Close, and
 * no call in Deno frees them (denoland/deno#25126) until the client reads
 * or goes. Each such connection is held here with what it still charges
 * the memory guard; once a second those past {@link HELD_ABORT_AFTER_MS}
 * are aborted through the kernel (`SocketAbort`: `ss -K` in
 * `lib/start/socket_abort.ts`), which fails Deno's stuck writes so it lets
 * go, and the connection's charge is released for every socket gone. A
 * socket the kernel could not abort (no CAP_NET_ADMIN) stays held and
 * counted: the memory is in use, so the guard sheds and refuses on it
 * rather than the overload watch taking it for memory nobody counts.
 *
 * @module
 */
import { after, type Cancel } from "../core_timer.ts";

/** What {@link SocketAbort.abort} found. */
export type AbortAnswer =
  | {
    /** Sockets destroyed. */
    aborted: number;
    /** Peers whose connection is still there (not permitted, or unsupported). */
    left: Set<Deno.NetAddr>;
    /** What the kernel said when it refused, if it did. */
    refused?: string;
  }
  | {
    unavailable: string;
    /** True when asking again may work (`ss` past its deadline). */
    transient?: boolean;
  };

/** Aborts TCP connections of the listener by peer. */
export interface SocketAbort {
  /** Aborts the connections to `peers`; never throws. */
  abort(peers: readonly Deno.NetAddr[]): Promise<AbortAnswer>;
}

/**
 * How long a held connection's client gets to read up to the Close before
 * its connection is aborted, in ms: one that reads takes its echoes (at
 * most MAX_BUFFERED_BYTES) well within it.
 */
export const HELD_ABORT_AFTER_MS = 1000;

/** How often the held connections are looked at, in ms. */
export const HELD_CHECK_MS = 500;

/** What happened at one look, for the log. */
export interface HeldReport {
  aborted: number;
  /** Held connections the kernel did not abort. */
  left: number;
  /** Why the kernel could not be asked, or what it said when it refused. */
  reason?: string;
}

/** The held connections and their aborts; `dispose()` stops the looks. */
export class HeldSockets {
  readonly #abort: SocketAbort;
  readonly #report: (report: HeldReport) => void;
  readonly #held = new Map<
    Deno.NetAddr,
    { dueAt: number; release: (gone: boolean) => void }
  >();
  /** Held peers the kernel did not abort at their last look. */
  readonly #left = new Set<Deno.NetAddr>();
  #cancel: Cancel | undefined;
  #looking: Promise<void> | undefined;
  #disposed = false;
  /** The last reason reported: a refusal is said once, not at every look. */
  #lastReason: string | undefined;
  /** Connections aborted since start. */
  aborted = 0;

  constructor(
    abort: SocketAbort,
    report: (report: HeldReport) => void = () => {},
  ) {
    this.#abort = abort;
    this.#report = report;
  }

  /** Connections held now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Connections held that are still to be aborted: not yet looked at, or
   * not refused by the kernel. The overload watch leaves them out of the
   * closes only a recycle frees (`unanswered_closes.ts`).
   */
  get pending(): number {
    return this.#held.size - this.#left.size;
  }

  /**
   * Holds the connection to `peer` until it is gone; `release` is called
   * once: with `gone` true when the kernel no longer has it (aborted, or
   * closed by the client), false when nobody can tell (the kernel cannot
   * be asked, or at shutdown): then only Deno's close event says it is.
   *
   * @param afterMs When to abort it, in ms from now.
   * @default {HELD_ABORT_AFTER_MS}
   */
  hold(
    peer: Deno.NetAddr,
    release: (gone: boolean) => void,
    afterMs: number = HELD_ABORT_AFTER_MS,
  ): void {
    if (this.#disposed) return release(false);
    this.#held.set(peer, { dueAt: Date.now() + afterMs, release });
    this.#schedule();
  }

  /**
   * A held connection's client shows it will not read up to the Close (it
   * keeps sending after being shed for memory): it is aborted at the next
   * look instead of after its grace. Nothing if `peer` is not held.
   */
  hasten(peer: Deno.NetAddr): void {
    const held = this.#held.get(peer);
    if (held) held.dueAt = Math.min(held.dueAt, Date.now());
  }

  /** Stops looking and releases every connection held (at shutdown). */
  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#cancel?.();
    this.#cancel = undefined;
    await this.#looking;
    for (const { release } of this.#held.values()) release(false);
    this.#held.clear();
    this.#left.clear();
  }

  #schedule(): void {
    if (this.#cancel || this.#looking || this.#disposed) return;
    this.#cancel = after(HELD_CHECK_MS, () => {
      this.#cancel = undefined;
      this.#looking = this.#look().finally(() => {
        this.#looking = undefined;
        if (this.#held.size > 0) this.#schedule();
      });
    });
  }

  async #look(): Promise<void> {
    const now = Date.now();
    const due = [...this.#held].filter(([, held]) => held.dueAt <= now)
      .map(([peer]) => peer);
    if (due.length === 0) return;
    const answer = await this.#abort.abort(due);
    // Too slow this time (a loaded machine): ask again at the next look.
    if (this.#disposed || ("unavailable" in answer && answer.transient)) {
      return;
    }
    // The kernel cannot be asked: nothing tells when Deno lets go, so
    // stop counting, as before there was a way to know.
    const left = "unavailable" in answer
      ? new Set<Deno.NetAddr>()
      : answer.left;
    for (const peer of due) {
      if (left.has(peer)) {
        this.#left.add(peer);
        continue;
      }
      const held = this.#held.get(peer);
      this.#held.delete(peer);
      this.#left.delete(peer);
      held?.release(!("unavailable" in answer));
    }
    const reason = "unavailable" in answer
      ? answer.unavailable
      : answer.refused;
    const aborted = "unavailable" in answer ? 0 : answer.aborted;
    this.aborted += aborted;
    const news = reason !== undefined && reason !== this.#lastReason;
    this.#lastReason = reason;
    if (aborted > 0 || news) {
      this.#report({
        aborted,
        left: left.size,
        ...(reason === undefined ? {} : { reason }),
      });
    }
  }
}
