/**
 * The process-wide memory guard: a budget for what the connections hold
 * (unread echoes, delayed echoes, messages in flight) and a watch on the
 * process's real memory (RSS). Over either, the service sheds as Envoy's
 * overload manager does: new upgrades get `503` with `Retry-After`, and the
 * connections holding the most close with 1013 "Try Again Later", largest
 * first, until the total is back under.
 *
 * Under `deno serve --parallel` every worker has a guard but RSS is the
 * process's. With `peers` (`memory_peers.ts`) a worker counts the RSS as
 * its trouble only when its own share (heap, external buffers, what its
 * connections hold) is at least the mean of all workers' shares: the worker
 * holding the flood sheds, the others keep serving their clients. Every
 * worker refuses new upgrades while the process is over MAX_RSS_BYTES,
 * since what Deno collects for a connection before the app sees a message
 * is in nobody's share: a worker that admitted there let 400 split
 * attackers reconnect as fast as the other swept them, and the process
 * ended (`deno task serve`, an attack review's split fragments). The budget
 * is the process's too: each of `workers` guards holds at most its share
 * (two workers each holding MEMORY_BUDGET_BYTES held twice the budget, and
 * `deno task serve` ended on `uncounted_memory` under 64 clients that do
 * not read, in the attack review).
 *
 * Its options, what it asks of a connection and the levels it acts at are
 * in `memory_guard_options.ts`, re-exported here; the RSS watch (samples,
 * the floor after a flood, the workers' shares) is `rss_watch.ts`.
 *
 * @module
 */
import type { MemoryState, ShedCause } from "../metrics.ts";
import type { Counted, MemoryPeers } from "./memory_peers.ts";
import { type Cancel, every } from "../core_timer.ts";
import { SHED_NETWORK_MS, ShedNetworks } from "./shed_networks.ts";
import { FreshAdmissions } from "./fresh_admissions.ts";
import { BudgetWaits, type WaitingForRoom } from "./budget_waits.ts";
import { RssWatch } from "./rss_watch.ts";
import {
  type Backlogged,
  CLOSING_WAIT_MS,
  type MemoryGuardOptions,
  RECOUNT_MS,
  RESUME_BELOW,
  RSS_SETTLE_SAMPLES,
  RSS_STEADY_SHARE,
  SHED_TO,
} from "./memory_guard_options.ts";

export type { Backlogged, MemoryGuardOptions, MemoryState, ShedCause };
export {
  CLOSING_WAIT_MS,
  RECOUNT_MS,
  RESUME_BELOW,
  RSS_SETTLE_SAMPLES,
  RSS_STEADY_SHARE,
  SHED_TO,
};

/** Counts what the connections hold and sheds when there is too much. */
export class MemoryGuard {
  readonly #budget: number;
  readonly #peers: MemoryPeers | undefined;
  /** The process's RSS against MAX_RSS_BYTES (`rss_watch.ts`). */
  readonly #rssWatch: RssWatch;
  readonly #charges = new Map<Backlogged, number>();
  /** Connections asked to close; their charge stays until they have. */
  readonly #shedding = new Set<Backlogged>();
  /** What the connections in `#shedding` hold: kept as they change. */
  #shedBytes = 0;
  readonly #shedCount: Record<ShedCause, number> = { memory_budget: 0, rss: 0 };
  #used = 0;
  #overBudget = false;
  readonly #now: () => number;
  /** The networks the budget shed lately (`shed_networks.ts`). */
  readonly #shedNetworks = new ShedNetworks();
  /** When a connection was last shed (`#now()`), -Infinity before. */
  #lastShedAt = -Infinity;
  /** Stops the samples; they run on core timers (`core_timer.ts`). */
  #stopSampling: Cancel | undefined;
  /** See {@link MemoryGuardOptions.freshBytes}. */
  readonly #freshBytes: number;
  /** The upgrades admitted lately (`fresh_admissions.ts`). */
  readonly #fresh: FreshAdmissions;
  /** When the charges were last re-read (`#now()`), -Infinity before. */
  #recountedAt = -Infinity;
  /** Echoes of clients not behind, waiting for room (`budget_waits.ts`). */
  readonly #waits: BudgetWaits;

  constructor(options: MemoryGuardOptions) {
    this.#budget = Math.floor(
      options.budgetBytes / Math.max(1, options.workers ?? 1),
    );
    this.#peers = options.peers;
    this.#now = options.now ?? (() => performance.now());
    this.#rssWatch = new RssWatch({
      maxRssBytes: options.maxRssBytes,
      readRss: options.readRss ?? (() => Deno.memoryUsage().rss),
      peers: options.peers,
      readOwn: options.readOwn ?? (() => {
        const { heapUsed, external } = Deno.memoryUsage();
        return heapUsed + external;
      }),
      used: () => this.#used,
      shed: () => this.#shed("rss", this.#unshedBytes() / 2),
    });
    this.#freshBytes = this.#budget > 0 ? options.freshBytes ?? 0 : 0;
    this.#fresh = new FreshAdmissions();
    this.#waits = new BudgetWaits({
      recount: () => this.#recount(),
      now: this.#now,
    });
    const sampleMs = options.sampleMs ?? 1000;
    if (this.#budget > 0 || this.#rssWatch.maxRssBytes > 0) {
      this.#rssWatch.read();
      // Keeps the process alive until `dispose()`, which every owner calls.
      this.#stopSampling = every(sampleMs, () => this.sample());
    }
  }

  /**
   * Sets what `connection` holds, in bytes (0 forgets it). O(1); when the
   * total passes the budget, one shedding pass is scheduled.
   */
  charge(connection: Backlogged, bytes: number, shedNow = true): void {
    const before = this.#charges.get(connection) ?? 0;
    if (bytes === before) return;
    if (this.#shedding.has(connection)) this.#shedBytes += bytes - before;
    if (bytes === 0) {
      this.#charges.delete(connection);
      this.#shedding.delete(connection);
    } else this.#charges.set(connection, bytes);
    this.#used += bytes - before;
    if (this.#budget === 0) return;
    if (this.#used > this.#budget) {
      this.#overBudget = true;
      if (!shedNow) return;
      // At once, not from a timer: a room's fan-out charges many receivers
      // per message, and a timer waited while the messages already read were
      // handled (272% of the budget before the first shed, measured with 63
      // members that do not read). Shedding brings the rest to 75%, so the
      // next pass comes only after a quarter of the budget more.
      const unshed = this.#unshedBytes();
      if (unshed > this.#budget) {
        this.#shed("memory_budget", unshed - this.#budget * SHED_TO);
      }
    } else if (this.#overBudget && this.#used < this.#budget * RESUME_BELOW) {
      this.#overBudget = false;
    }
  }

  /**
   * Sheds `connection` now, for `cause`: a connection behind on its reading
   * that was about to be given more while the service sheds
   * (`unread_echoes.ts`). Counted like the guard's own sheds; its charge
   * stays until it has closed.
   */
  shedOne(connection: Backlogged, cause: ShedCause): void {
    if (this.#shedding.has(connection)) return;
    this.#shedding.add(connection);
    this.#lastShedAt = this.#now();
    this.#shedBytes += this.#charges.get(connection) ?? 0;
    this.#shedCount[cause]++;
    if (cause === "memory_budget" && connection.network !== undefined) {
      this.#shedNetworks.shed(connection.network, this.#lastShedAt);
    }
    connection.shed(cause);
  }

  /**
   * True when an upgrade from `network` may be admitted although the guard
   * is refusing: for the budget only (never for RSS), when what the
   * connections not asked to close hold is under RESUME_BELOW of it (the
   * guard is only waiting for the shed to leave, `CLOSING_WAIT_MS`), and
   * `network` had nothing shed for the budget within `SHED_NETWORK_MS`
   * (`shed_networks.ts`: clients that never read, reconnecting from 128
   * /24s, kept 82% of honest newcomers out).
   */
  admitsFrom(network: string): boolean {
    if (this.refusing !== "memory_budget") return false;
    if (this.#unshedBytes() >= this.#budget * RESUME_BELOW) return false;
    return !this.#shedNetworks.recent(network, this.#now());
  }

  /**
   * False when an upgrade must be refused for the reserve: within
   * `SHED_NETWORK_MS` of a shed (an attack is on), what the connections
   * not asked to close hold plus `freshBytes` for each upgrade admitted
   * in the last `FRESH_MS` with no message yet, and for this one, would
   * pass the budget. A connection is charged only from its first message,
   * so without it each wave of reconnecting non-readers admitted while the
   * count was low brought 2 x MAX_MESSAGE_BYTES each uncounted
   * (`fresh_admissions.ts`). Upgrades
   * from a `network` the budget shed lately may take only half that room,
   * so attackers reconnecting from their networks leave the other half to
   * newcomers, who always get one at a time. Outside an attack nothing is reserved: a burst of honest
   * upgrades is admitted as before.
   */
  admitsNew(network?: string): boolean {
    if (this.#freshBytes === 0) return true;
    const now = this.#now();
    if (now - this.#lastShedAt >= SHED_NETWORK_MS) return true;
    // What is on its way out is left out, as for `admitsFrom`.
    const room = (this.#budget - this.#unshedBytes()) / this.#freshBytes;
    const shed = network !== undefined &&
      this.#shedNetworks.recent(network, now);
    // At least one at a time from elsewhere: a budget smaller than one
    // reserve still admits newcomers that send at once.
    const fits = shed ? Math.floor(room / 2) : Math.max(1, Math.floor(room));
    return this.#fresh.count(now) < fits;
  }

  /**
   * The upgrade of `lease` was admitted: it counts for {@link admitsNew}
   * until {@link settled}, or for `FRESH_MS`.
   */
  admitted(lease: object): void {
    if (this.#freshBytes > 0) this.#fresh.admitted(lease, this.#now());
  }

  /** The connection of `lease` had its first message, or closed. */
  settled(lease: object): void {
    this.#fresh.settled(lease);
  }

  /**
   * Why more may not be queued now for `connection`, or undefined when it
   * fits: the budget has no room for what its charge would grow to
   * (`charge`, its send included), or (for a connection already behind on
   * its reading) RSS is over MAX_RSS_BYTES. Deno cannot free what it
   * queued for a client that does not read, so a budget that sheds only
   * after the fact is overrun by everything queued meanwhile
   * (`unread_echoes.ts`).
   *
   * Only the growth over what `connection` is charged already needs room:
   * asking for the whole message plus `IN_FLIGHT_BYTES` on top of its own
   * charge counted a 1 MiB reader about 5 MiB at each send, and 32 such
   * clients filled the 96 MiB budget (an attack review). Before refusing, the
   * charges are re-read ({@link RECOUNT_MS}): a reader's echo that drained
   * since its last send still counts until then. A connection behind must
   * fit beside everything counted, those on their way out included: they
   * hold it until they have gone. A connection that has read all it was
   * sent is refused alike, but its echo waits for room ({@link wait})
   * rather than its client being closed; a `late` one makes room: the
   * largest holders not yet shed are closed for what it lacks beside the
   * rest (itself too, when it is among them), and it waits for them to go.
   * Refusing such an echo closed its client, whose charge stayed until it
   * had gone, so the next refusal closed the next: all 32 clients of 1 MiB
   * messages went (an attack review, `bench/attacks/quick_up.sh`).
   *
   * A connection whose client the kernel says acknowledges what it is sent
   * (`Backlogged.acking`, `peer_acks.ts`) fits beside what the connections
   * not asked to close hold, as new upgrades do ({@link admitsNew}), and
   * room is made for it at once from holders that do not read, if any:
   * beside 128 clients of 1 MiB that never read, the budget was twice over
   * with connections on their way out while admission let more in beside
   * them, and the honest readers' echoes, judged beside everything, waited
   * until their next message shed them (issue #20, stranger19 F2).
   *
   * @param charge What `connection` would hold with the send, in bytes.
   * @param behind The connection is behind on its reading already.
   * @param late A waiting echo that waited `WAIT_FOR_ROOM_MS`: make room.
   */
  refuses(
    connection: Backlogged,
    charge: number,
    behind = true,
    late = false,
  ): ShedCause | undefined {
    if (behind && this.#rssWatch.over) return "rss";
    if (this.#budget === 0 || this.#fits(connection, charge)) return undefined;
    this.#recount();
    if (this.#fits(connection, charge)) return undefined;
    // Full: upgrades get 503 until the total is back under, as when passed.
    this.#overBudget = true;
    const growth = charge - (this.#charges.get(connection) ?? 0);
    // For a client the kernel says acks: room at once from holders that do
    // not read, if any; a late one's from the largest, readers last. What
    // is on its way out is left out of its room, so it may go now.
    if (connection.acking) {
      this.#shed("memory_budget", this.#lacks(growth), true);
    }
    if (!behind && late) {
      const lacks = this.#lacks(growth);
      if (lacks > 0) this.#shed("memory_budget", lacks);
    }
    if (connection.acking && this.#fits(connection, charge)) return undefined;
    return "memory_budget";
  }

  /**
   * `connection` has an echo waiting for room: it is asked to retry until
   * it says nothing waits (`budget_waits.ts`).
   */
  wait(connection: WaitingForRoom): void {
    this.#waits.add(connection);
  }

  /** What `growth` bytes lack beside what is not on its way out. */
  #lacks(growth: number): number {
    return this.#unshedBytes() + growth - this.#budget;
  }

  /** True when `connection` may hold `charge` bytes: see {@link refuses}. */
  #fits(connection: Backlogged, charge: number): boolean {
    if (this.#shedding.has(connection)) return false;
    const growth = charge - (this.#charges.get(connection) ?? 0);
    if (growth <= 0) return true;
    const used = connection.acking ? this.#unshedBytes() : this.#used;
    return used + growth <= this.#budget;
  }

  /**
   * Re-reads every charge not on its way out, at most once per
   * {@link RECOUNT_MS}: what the sample does each second, before a
   * decision to refuse or shed.
   */
  #recount(): void {
    const now = this.#now();
    if (now - this.#recountedAt < RECOUNT_MS) return;
    this.#recountedAt = now;
    for (const connection of [...this.#charges.keys()]) {
      if (!this.#shedding.has(connection)) {
        this.charge(connection, connection.recount(), false);
      }
    }
  }

  /**
   * Why this worker sheds load now (closes its largest holders, queues no
   * more for clients behind on their reading), or undefined when it does
   * not. Read as "the server sheds" by `/stream` (`unreadBytes`),
   * `/healthz` and the `shedding` gauge, so it is not set by a worker that
   * only refuses upgrades over MAX_RSS_BYTES ({@link refusing}): that
   * worker's own clients keep being served (review35 F-K).
   */
  get shedding(): ShedCause | undefined {
    if (this.#rssWatch.over) return "rss";
    if (this.#overBudget) return "memory_budget";
    return undefined;
  }

  /**
   * Why an upgrade must be refused now, or undefined to admit it: whenever
   * the guard sheds, and also while the process's RSS is over MAX_RSS_BYTES
   * on a `deno serve` worker that holds less than the mean share and so
   * sheds nothing. RSS first, as {@link admitsFrom} lets some networks in
   * for the budget only.
   */
  get refusing(): ShedCause | undefined {
    if (this.#rssWatch.refusing) return "rss";
    return this.shedding;
  }

  /**
   * True while the kernel's word on who reads is worth asking often
   * (`lib/start/ack_watch.ts`): what the connections hold is past a quarter
   * of the budget, or the guard shed within `SHED_NETWORK_MS` (an attack is
   * on).
   */
  get pressed(): boolean {
    if (this.#budget === 0) return false;
    return this.#used > this.#budget / 4 ||
      this.#now() - this.#lastShedAt < SHED_NETWORK_MS;
  }

  /** The numbers behind the decisions. */
  state(): MemoryState {
    return {
      usedBytes: this.#used,
      budgetBytes: this.#budget,
      rssBytes: this.#rssWatch.rssBytes,
      maxRssBytes: this.#rssWatch.maxRssBytes,
      shedding: this.shedding ?? null,
      refusing: this.refusing ?? null,
      shed: { ...this.#shedCount },
      ...(this.#rssWatch.worker
        ? { worker: { ...this.#rssWatch.worker } }
        : {}),
    };
  }

  /**
   * Samples RSS and re-reads every charged connection, so a client that has
   * caught up stops counting even if it sends nothing more. Runs every
   * `sampleMs`; exposed for tests.
   */
  sample(): void {
    this.#recountedAt = -Infinity;
    this.#recount();
    this.#settleBudget();
    this.#rssWatch.sample();
  }

  /**
   * The bytes the connections of every worker of the process hold (`used`)
   * and the payload bytes every worker has moved since start-up (`moved`):
   * this worker's now, the others' as they last said (within a sample of
   * the overload watch). Publishes this worker's on the way; without peers,
   * only this worker's.
   *
   * @param movedBytes This worker's payload bytes received and sent since start-up.
   */
  processCounted(movedBytes: number): Counted {
    const own = { used: this.#used, moved: movedBytes };
    if (!this.#peers) return own;
    const others = this.#peers.shareCounted(own.used, own.moved);
    return { used: own.used + others.used, moved: own.moved + others.moved };
  }

  /** Stops sampling (when the server stops). */
  dispose(): void {
    this.#peers?.close();
    this.#stopSampling?.();
    this.#stopSampling = undefined;
    this.#waits.dispose();
  }

  /**
   * Ends a refusal that would otherwise last: still over RESUME_BELOW of the
   * budget a sample after it began, the largest holders not yet shed are
   * closed until the rest fits in SHED_TO, and admission resumes once what
   * is not on its way out fits under RESUME_BELOW. Without it connections
   * that filled the budget to 90-100% and then waited (26 `/stream`s that
   * never read, in the attack review) refused every newcomer `503` for as
   * long as they stayed, shedding nobody; and connections asked to close
   * that never finish (a non-reader's Close) kept refusing until they left.
   * Those are waited for up to {@link CLOSING_WAIT_MS} after the last shed;
   * what stays after that is bounded by CLOSE_TIMEOUT_SECONDS and
   * MAX_RSS_BYTES.
   */
  #settleBudget(): void {
    if (this.#budget === 0 || !this.#overBudget) return;
    const resumeBelow = this.#budget * RESUME_BELOW;
    if (this.#unshedBytes() >= resumeBelow) {
      this.#shed("memory_budget", this.#unshedBytes() - this.#budget * SHED_TO);
    }
    const waited = this.#used < resumeBelow ||
      this.#now() - this.#lastShedAt >= CLOSING_WAIT_MS;
    if (this.#unshedBytes() < resumeBelow && waited) this.#overBudget = false;
  }

  /** What the connections not yet asked to close hold. */
  #unshedBytes(): number {
    return this.#used - this.#shedBytes;
  }

  /**
   * Closes the largest holders until at least `bytes` are on their way
   * out: those whose clients do not read first (`Backlogged.reading`),
   * those the kernel says acknowledge what they are sent last
   * (`Backlogged.acking`). `onlyNotReading`: none that reads.
   */
  #shed(cause: ShedCause, bytes: number, onlyNotReading = false): void {
    const candidates = [...this.#charges].filter(([connection]) =>
      !this.#shedding.has(connection) &&
      !(onlyNotReading && connection.reading === true)
    ).sort((a, b) =>
      Number(a[0].reading === true) - Number(b[0].reading === true) ||
      Number(a[0].acking === true) - Number(b[0].acking === true) ||
      b[1] - a[1]
    );
    let freed = 0;
    for (const [connection, charge] of candidates) {
      if (freed >= bytes) break;
      freed += charge;
      this.shedOne(connection, cause);
    }
  }
}
