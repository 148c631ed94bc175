/**
 * What a memory guard (`memory_guard.ts`) is given and the levels it acts
 * at: its options, what it may ask of a connection it counts
 * ({@link Backlogged}), and the shares and times at which it sheds, resumes
 * admission and re-reads the charges. Split from `memory_guard.ts`, which
 * re-exports all of it.
 *
 * @module
 */
import type { ShedCause } from "../metrics.ts";
import type { MemoryPeers } from "./memory_peers.ts";

/**
 * What the guard can ask of a connection: how much it holds now, and to close
 * because the server is overloaded. The connection reports changes through
 * `MemoryGuard.charge`.
 */
export interface Backlogged {
  /** Re-reads the connection's backlog (an op call); returns its charge in bytes. */
  recount(): number;
  /** Closes with 1013; the charge stays until the connection has closed. */
  shed(cause: ShedCause): void;
  /**
   * The client's network (`networkKey`), when known: remembered when the
   * budget sheds it (`MemoryGuard.admitsFrom`).
   */
  readonly network?: string;
  /**
   * The client drained what it was sent lately (`UnreadEchoes.reading`):
   * the guard sheds those that do not first. None: taken as not reading.
   */
  readonly reading?: boolean;
  /**
   * The kernel says the client keeps acknowledging what it is sent
   * (`peer_acks.ts`): its growth is judged beside what the connections not
   * asked to close hold. None: beside everything counted.
   */
  readonly acking?: boolean;
}

/** Options for `MemoryGuard`. */
export interface MemoryGuardOptions {
  /** Bytes the connections may hold in all; 0 = no budget. */
  budgetBytes: number;
  /**
   * Workers of the process that share `budgetBytes` (`deno serve
   * --parallel`): this guard's connections hold at most
   * `budgetBytes / workers`. @default 1
   */
  workers?: number;
  /** Process RSS above which it sheds; 0 = not watched. */
  maxRssBytes: number;
  /** How often RSS is sampled and stale charges re-read, in ms. @default 1000 */
  sampleMs?: number;
  /** Reads the RSS in bytes. @default `Deno.memoryUsage().rss` */
  readRss?: () => number;
  /** The other workers of the process, when there are any. */
  peers?: MemoryPeers;
  /** The clock, in milliseconds. @default performance.now */
  now?: () => number;
  /**
   * Reads this worker's own memory in bytes, without what its connections
   * hold (the guard adds that). @default V8 heap used plus external buffers
   */
  readOwn?: () => number;
  /**
   * What one admitted upgrade may bring before its first message is
   * charged, in bytes: `heldReadBytes(MAX_MESSAGE_BYTES)`; 0 = no reserve
   * (`MemoryGuard.admitsNew`). @default 0
   */
  freshBytes?: number;
}

/**
 * Admission resumes once the total is below this share of the budget, so the
 * service does not flap between refusing and admitting.
 */
export const RESUME_BELOW = 0.9;
/** Shedding closes connections until the rest fits in this share of the budget. */
export const SHED_TO = 0.75;
/**
 * Samples in a row with RSS over MAX_RSS_BYTES but steady (within
 * RSS_STEADY_SHARE of the first of them) and, on a worker that sheds,
 * nothing held by any connection, after which the RSS is taken for memory the
 * allocator kept rather than memory in use: the allocator does not give
 * freed memory back, so after a flood RSS stays near its peak (measured in
 * the attack review: 376 MiB for good after a 400 MiB trip). New connections
 * reuse that memory, so the watch admits again and trips next only on growth
 * past that level.
 */
export const RSS_SETTLE_SAMPLES = 5;
/**
 * How far RSS may move, as a share, from the first of RSS_SETTLE_SAMPLES
 * samples and still be steady: over the whole run, not per sample, so RSS
 * rising under this much a sample is growth, not memory kept.
 */
export const RSS_STEADY_SHARE = 0.01;
/**
 * How long after the last shed admission waits, in milliseconds, for the
 * connections told to close to go while they still hold the budget. A
 * client that does not read is aborted through the kernel about 1.5 s after
 * its shed (`held_sockets.ts`); admitting beside it let 64 non-readers from
 * rotating addresses reconnect and queue as much again while the first ones
 * were still leaving: 176 MiB counted against 96 MiB, all of it shed, from
 * 88 connections (the attack review's `nonreaders`, `deno task start`).
 * Past this, admission resumes beside what stays (a socket the kernel may
 * not abort stays until its client leaves), as a refusal must not last.
 */
export const CLOSING_WAIT_MS = 5000;

/**
 * How often, at most, the charges are re-read before a decision to refuse
 * or shed, in ms: each re-read is an op call per charged connection, and
 * a flood of refusals must not make it one per message.
 */
export const RECOUNT_MS = 20;
