/**
 * What each `deno serve --parallel` worker knows of the others' memory. RSS
 * is the process's, shared by every worker, so a worker that sheds on RSS
 * alone refuses its clients for another worker's flood. Each worker's guard
 * publishes its own share once a sample (its V8 heap, external buffers and
 * what its connections hold) on a `BroadcastChannel`, which reaches every
 * worker of the process, and reads the others' latest shares back.
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
  /** Stops listening (when the server stops). */
  close(): void;
}

interface Share {
  worker: string;
  bytes: number;
}

/** {@link MemoryPeers} over a `BroadcastChannel`. */
export class BroadcastMemoryPeers implements MemoryPeers {
  readonly #channel: BroadcastChannel;
  readonly #worker = crypto.randomUUID();
  readonly #shares = new Map<string, { bytes: number; at: number }>();
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
      if (
        typeof share?.worker !== "string" || !Number.isFinite(share.bytes)
      ) return;
      this.#shares.set(share.worker, { bytes: share.bytes, at: this.#now() });
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
    const now = this.#now();
    const others: number[] = [];
    for (const [worker, share] of this.#shares) {
      if (now - share.at > SHARE_STALE_MS) this.#shares.delete(worker);
      else others.push(share.bytes);
    }
    return others;
  }

  close(): void {
    this.#channel.close();
  }
}
