/**
 * The memory guard's watch on the process's real memory (RSS) against
 * MAX_RSS_BYTES (`memory_guard.ts`, which owns one): over it, the guard
 * sheds half of what its connections hold and refuses upgrades; a steady
 * RSS after a flood is taken for memory the allocator kept
 * ({@link RSS_SETTLE_SAMPLES}), and the watch trips next only above it.
 * Under `deno serve --parallel` it exchanges each worker's share with the
 * others (`memory_peers.ts`) so that only a worker holding at least the
 * mean share sheds. Split from `memory_guard.ts`.
 *
 * @module
 */
import type { MemoryState } from "../metrics.ts";
import type { MemoryPeers } from "./memory_peers.ts";
import {
  RESUME_BELOW,
  RSS_SETTLE_SAMPLES,
  RSS_STEADY_SHARE,
} from "./memory_guard_options.ts";

/** Options for {@link RssWatch}: all given by its `MemoryGuard`. */
export interface RssWatchOptions {
  /** Process RSS above which the guard sheds, in bytes; 0 = not watched. */
  maxRssBytes: number;
  /** Reads the RSS in bytes; 0 when the read failed. */
  readRss: () => number;
  /** The other workers of the process, when there are any. */
  peers: MemoryPeers | undefined;
  /** Reads this worker's own memory in bytes, without its connections'. */
  readOwn: () => number;
  /** What the guard's connections hold now, in bytes. */
  used: () => number;
  /** Sheds the largest holders for half of what is not on its way out. */
  shed: () => void;
}

/** The process's RSS against MAX_RSS_BYTES, sampled by its guard. */
export class RssWatch {
  readonly #maxRss: number;
  readonly #readRss: () => number;
  readonly #peers: MemoryPeers | undefined;
  readonly #readOwn: () => number;
  readonly #used: () => number;
  readonly #shed: () => void;
  #worker: MemoryState["worker"];
  #rss = 0;
  /** RSS taken for retained memory after a flood: the watch trips above it. */
  #rssFloor = 0;
  #rssSteadySamples = 0;
  /** The RSS the current run of steady samples is measured against. */
  #rssSteadyFrom = 0;
  #overRss = false;
  /** RSS is over the limit (or the floor): upgrades are refused. */
  #refusingRss = false;

  constructor(options: RssWatchOptions) {
    this.#maxRss = options.maxRssBytes;
    this.#readRss = options.readRss;
    this.#peers = options.peers;
    this.#readOwn = options.readOwn;
    this.#used = options.used;
    this.#shed = options.shed;
  }

  /** MAX_RSS_BYTES, in bytes; 0 = not watched. */
  get maxRssBytes(): number {
    return this.#maxRss;
  }

  /** The last RSS sample, in bytes (0 before the first). */
  get rssBytes(): number {
    return this.#rss;
  }

  /** This worker's share and the mean of all (with peers), at the last sample. */
  get worker(): MemoryState["worker"] {
    return this.#worker;
  }

  /** Over MAX_RSS_BYTES (or the floor) and this worker sheds for it. */
  get over(): boolean {
    return this.#overRss;
  }

  /** Over MAX_RSS_BYTES (or the floor): upgrades are refused. */
  get refusing(): boolean {
    return this.#refusingRss;
  }

  /** Takes the first sample, when the guard starts sampling. */
  read(): void {
    this.#rss = this.#readRss();
  }

  /**
   * Samples RSS (with peers, exchanges the shares first) and decides
   * whether the guard sheds and refuses for it. Run by the guard's sample,
   * after its budget's.
   */
  sample(): void {
    if (this.#maxRss === 0) return;
    this.#exchangeShares();
    const before = this.#rss;
    // 0 means the read failed (no descriptor left): keep the last sample.
    const rss = this.#rss = this.#readRss() || before;
    if (rss < this.#maxRss * RESUME_BELOW) {
      this.#overRss = false;
      this.#refusingRss = false;
      this.#rssFloor = 0;
      this.#rssSteadySamples = 0;
      return;
    }
    // Over the limit, or over what was kept after the last flood; with
    // other workers, only when this one holds at least its fair share.
    if (rss > Math.max(this.#maxRss, this.#rssFloor * 1.05)) {
      this.#overRss = this.#holdsFairShare();
      this.#refusingRss = true;
    }
    if (!this.#overRss && !this.#refusingRss) return;
    if (this.#overRss) this.#shed();
    // Steady against the RSS where the run began, not the sample before:
    // RSS creeping under 1% a sample (a paced flood) is not steady, else
    // the floor climbed with it (review35 F-B: 300 -> 514 MiB, refused 24
    // of 60 samples).
    if (this.#rssSteadySamples === 0) this.#rssSteadyFrom = before;
    const from = this.#rssSteadyFrom;
    const steady = Math.abs(rss - from) <= from * RSS_STEADY_SHARE;
    // A worker that only refuses sheds nothing, so what its own clients
    // hold never goes: it settles on a steady RSS alone (else it refused
    // every upgrade for as long as the allocator kept the flood's memory).
    const settled = this.#overRss ? this.#used() === 0 : true;
    this.#rssSteadySamples = steady && settled ? this.#rssSteadySamples + 1 : 0;
    if (this.#rssSteadySamples >= RSS_SETTLE_SAMPLES) {
      this.#rssFloor = rss;
      this.#rssSteadySamples = 0;
      this.#overRss = false;
      this.#refusingRss = false;
    }
  }

  /**
   * True unless other workers hold more than this one: its share is at
   * least the mean of all. Publishes this worker's share on the way.
   */
  #holdsFairShare(): boolean {
    if (!this.#peers) return true;
    const own = this.#worker?.ownBytes ?? 0;
    const mean = this.#worker?.meanBytes ?? 0;
    return own >= mean;
  }

  /** Publishes this worker's share and reads the others' (every sample). */
  #exchangeShares(): void {
    if (!this.#peers) return;
    const own = this.#readOwn() + this.#used();
    const others = this.#peers.exchange(own);
    const workers = others.length + 1;
    const mean = (own + others.reduce((sum, bytes) => sum + bytes, 0)) /
      workers;
    this.#worker = { ownBytes: own, meanBytes: Math.round(mean), workers };
  }
}
