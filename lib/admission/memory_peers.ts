/**
 * What each `deno serve --parallel` worker knows of the others' memory. RSS
 * is the process's, shared by every worker, so a worker that sheds on RSS
 * alone refuses its clients for another worker's flood. Each worker's guard
 * publishes its own share once a sample (its V8 heap, external buffers and
 * what its connections hold) on a `BroadcastChannel`, which reaches every
 * worker of the process, and reads the others' latest shares back.
 *
 * The overload watch asks the same of the bytes the connections hold: RSS
 * growing while no worker's connections hold more is memory nobody counts
 * (Deno collecting fragments), while the same growth held by another
 * worker's non-reading clients is not (60 non-reading `/stream` clients on
 * one worker made another decide `uncounted_memory` and end the process).
 *
 * @module
 */

/** The channel's name; one per process. */
export const MEMORY_SHARE_CHANNEL = "ws-echo:memory-share";

/** A share older than this many milliseconds is from a worker that is gone. */
export const SHARE_STALE_MS = 5000;

/** How a guard learns the other workers' shares. */
export interface MemoryPeers {
  /**
   * Publishes this worker's share (bytes) and returns the others' latest
   * ones, stale ones left out.
   */
  exchange(ownBytes: number): number[];
  /**
   * Publishes the bytes this worker's connections hold and the payload
   * bytes it has moved (received and sent since start-up), and returns the
   * other workers' sums of each (their latest, stale ones left out).
   */
  shareCounted(usedBytes: number, movedBytes: number): Counted;
  /** Stops listening (when the server stops). */
  close(): void;
}

/** What workers count, in bytes: held by connections, and payload moved since start-up. */
export interface Counted {
  used: number;
  moved: number;
}

/** One post: a worker's share (`bytes`), its counted bytes (`used`, `moved`), or both. */
interface Share {
  worker: string;
  bytes?: number;
  used?: number;
  moved?: number;
}

/** What is known of one other worker; `at` in ms since epoch. */
interface Known {
  bytes?: { value: number; at: number };
  used?: { value: number; at: number };
  moved?: number;
}

/** {@link MemoryPeers} over a `BroadcastChannel`. */
export class BroadcastMemoryPeers implements MemoryPeers {
  readonly #channel: BroadcastChannel;
  readonly #worker = crypto.randomUUID();
  readonly #shares = new Map<string, Known>();
  readonly #now: () => number;
  #received = 0;

  /**
   * @param options.name The channel's name (tests use their own).
   * @param options.now The clock, in milliseconds. @default Date.now
   */
  constructor(options: { name?: string; now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#channel = new BroadcastChannel(options.name ?? MEMORY_SHARE_CHANNEL);
    this.#channel.onmessage = (event: MessageEvent<unknown>) => {
      const share = event.data as Share;
      if (typeof share?.worker !== "string") return;
      const known = this.#shares.get(share.worker) ?? {};
      const at = this.#now();
      if (Number.isFinite(share.bytes)) {
        known.bytes = { value: share.bytes!, at };
      }
      if (Number.isFinite(share.used)) known.used = { value: share.used!, at };
      if (Number.isFinite(share.moved)) known.moved = share.moved!;
      if (!known.bytes && !known.used) return;
      this.#shares.set(share.worker, known);
      this.#received++;
    };
  }

  /** Shares heard from other workers since start. */
  get received(): number {
    return this.#received;
  }

  exchange(ownBytes: number): number[] {
    this.#channel.postMessage(
      { worker: this.#worker, bytes: ownBytes } satisfies Share,
    );
    const others: number[] = [];
    for (const known of this.#fresh()) {
      if (known.bytes) others.push(known.bytes.value);
    }
    return others;
  }

  shareCounted(usedBytes: number, movedBytes: number): Counted {
    this.#channel.postMessage(
      {
        worker: this.#worker,
        used: usedBytes,
        moved: movedBytes,
      } satisfies Share,
    );
    const others = { used: 0, moved: 0 };
    for (const known of this.#fresh()) {
      if (!known.used) continue;
      others.used += known.used.value;
      others.moved += known.moved ?? 0;
    }
    return others;
  }

  /** The other workers heard from lately; forgets the stale. */
  *#fresh(): Generator<Known> {
    const now = this.#now();
    for (const [worker, known] of this.#shares) {
      if (known.bytes && now - known.bytes.at > SHARE_STALE_MS) {
        delete known.bytes;
      }
      if (known.used && now - known.used.at > SHARE_STALE_MS) {
        delete known.used;
      }
      if (!known.bytes && !known.used) this.#shares.delete(worker);
      else yield known;
    }
  }

  close(): void {
    this.#channel.close();
  }
}
