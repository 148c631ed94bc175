/**
 * What every hostile client shares: the phase's deadline and counters
 * ({@linkcode PhaseRun}), the reconnecting loop ({@linkcode agent}), why a
 * socket ended, a writer that never stops, and the client that never reads.
 *
 * @module
 */
import type net from "node:net";
import { clientFrame, errorOutcome, wsOpen } from "../../wire.ts";
import { count, type Counts, KiB, sleep } from "../shared.ts";

/** No write progress for this long: the server stopped reading us. */
export const STALL_MS = 5000;
/** How long a hostile client waits for a handshake's answer. */
export const HANDSHAKE_TIMEOUT_MS = 5000;
/** A hostile client makes at most this many connection attempts per phase. */
export const MAX_ATTEMPTS = 200;
/** A 64 KiB binary frame, what flooders send. */
export const FLOOD_FRAME: Uint8Array = clientFrame(
  0x2,
  new Uint8Array(64 * KiB),
);

/** One client session: resolves with why it ended (`close 1009`, `ECONNRESET`…). */
export type Session = () => Promise<string>;

/** One phase's shared state: its deadline, counters and every socket it opened. */
export class PhaseRun {
  readonly counts: Counts = {};
  readonly sockets: Set<net.Socket> = new Set();
  readonly #ended = new AbortController();
  readonly signal: AbortSignal = this.#ended.signal;

  constructor(holdMs: number) {
    const timer = setTimeout(() => this.end(), holdMs);
    this.signal.addEventListener("abort", () => clearTimeout(timer));
  }

  /** True once the phase has ended. */
  get over(): boolean {
    return this.signal.aborted;
  }

  /** Ends the phase: every socket is destroyed, every agent stops. */
  end(): void {
    this.#ended.abort();
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * One hostile client: waits `startDelayMs`, runs `session` until the socket
 * ends, and reconnects after an exponential backoff (0.5-8 s, jittered)
 * while the phase lasts, at most {@link MAX_ATTEMPTS} times.
 */
export async function agent(
  run: PhaseRun,
  startDelayMs: number,
  session: Session,
): Promise<void> {
  await sleep(startDelayMs, run.signal);
  let backoff = 500;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && !run.over; attempt++) {
    let outcome: string;
    let opened = false;
    try {
      outcome = await session();
      opened = true;
    } catch (error) {
      outcome = errorOutcome(error);
    }
    if (run.over) {
      // Ended by the phase, not by the server.
      count(
        run.counts,
        opened ? "open at phase end" : "connecting at phase end",
      );
      break;
    }
    count(run.counts, outcome);
    backoff = opened ? 500 : Math.min(backoff * 2, 8000);
    await sleep(backoff * (0.5 + Math.random()), run.signal);
  }
}

/**
 * Resolves with why `socket` ended: an error code, `closed`, `stall` (no
 * write progress for {@link STALL_MS}) or `close <code>` if `closeSeen()`
 * reports a close frame. `progress()` tells when the last write completed.
 */
export function ended(
  run: PhaseRun,
  socket: net.Socket,
  progress: () => number,
  closeSeen: () => number | undefined,
): Promise<string> {
  return new Promise((resolve) => {
    let why: string | undefined;
    const watchdog = setInterval(() => {
      if (performance.now() - progress() > STALL_MS) {
        why ??= "stall";
        socket.destroy();
      }
    }, 1000);
    socket.on("error", (error) => {
      why ??= errorOutcome(error);
    });
    socket.once("close", () => {
      clearInterval(watchdog);
      const code = closeSeen();
      resolve(code !== undefined ? `close ${code}` : why ?? "closed");
    });
    if (run.over) socket.destroy();
  });
}

/**
 * Writes `frame` again and again as fast as the socket takes it (one write
 * in flight, `pauseMs` between writes), until the socket ends. Returns a
 * function telling when the last write completed.
 */
export function pump(
  socket: net.Socket,
  frame: Uint8Array,
  pauseMs = 0,
): () => number {
  let lastProgress = performance.now();
  const next = () => {
    if (socket.destroyed) return;
    socket.write(frame, (error) => {
      if (error) return;
      lastProgress = performance.now();
      if (pauseMs > 0) setTimeout(next, pauseMs);
      else next();
    });
  };
  next();
  return () => lastProgress;
}

/**
 * A client that never reads: opens `path` from `localAddress` and writes
 * `frame` until it is closed, reset or stalled.
 */
export function neverReads(
  run: PhaseRun,
  port: number,
  localAddress: string,
  path: string,
  frame: Uint8Array,
): Session {
  return async () => {
    const { socket } = await wsOpen({
      port,
      localAddress,
      path,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      sockets: run.sockets,
    });
    count(run.counts, "status 101");
    const progress = pump(socket, frame);
    return await ended(run, socket, progress, () => undefined);
  };
}
