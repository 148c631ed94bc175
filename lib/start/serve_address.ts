/**
 * Under `deno serve --parallel`, only the main worker learns the address
 * Deno listens on (its `onListen`); the others are never told. A worker
 * whose listener failed must listen again on that address, so the workers
 * share it over a `BroadcastChannel`, which reaches every worker of the
 * process: the main worker answers a `where` with the address.
 *
 * A worker also needs to know whether the others still accept: Deno's
 * workers share one listening socket opened without SO_REUSEPORT, so while
 * one of them accepts on it, the others cannot listen again (AddrInUse),
 * and the port is served anyway. Each worker answers `accepting?` when its
 * own listener accepts.
 *
 * With PORT=0 Deno picks one port for all of them (they share its socket:
 * `ss -tlnp` showed one port held by the process, measured with
 * `PORT=0 deno task serve`), and each worker's start-up record names it once
 * {@link ServeAddress.known} has it: the main worker posts the address as
 * soon as it is told.
 *
 * A port another process holds makes Deno's listen fail in every worker,
 * and each one printed the "Cannot listen" line before the first exit ended
 * the process (seen twice once in tests/start/taken_port_test.ts). The
 * workers elect the one to say it: each posts a claim when its listen fails
 * ({@link ServeAddress.foundTaken}), and the first claim by the wall clock
 * (then a random id) wins ({@link ServeAddress.saysTaken}).
 *
 * @module
 */
import * as z from "zod/mini";
import { lazy } from "../lazy.ts";

/** The channel's name; one per process. */
export const SERVE_ADDRESS_CHANNEL = "ws-echo:serve-address";

/** How long a worker waits for the main worker's answer, in milliseconds. */
export const SERVE_ADDRESS_WAIT_MS = 1000;

/** The part of an address a worker needs to listen again. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * A worker's claim to say that the port is taken: when its listen failed
 * (ms since the epoch to the µs, `timeOrigin + now()`: comparable across the
 * workers of a process, and `Date.now()`'s whole ms tied within one), and a
 * random id that settles a tie.
 */
interface TakenClaim {
  taken: number;
  id: string;
}

/** One worker's view of the shared address. */
export class ServeAddress {
  readonly #channel = new BroadcastChannel(SERVE_ADDRESS_CHANNEL);
  #known: ListenAddress | undefined;
  readonly #waiters: Array<(address: ListenAddress) => void> = [];
  readonly #acceptingWaiters: Array<(accepting: boolean) => void> = [];
  readonly #accepting: () => boolean;
  /** This worker's claim, once its listen found the port taken. */
  #claim: TakenClaim | undefined;
  /** The other workers' claims heard, by id. */
  readonly #claims = new Map<string, TakenClaim>();
  #closed = false;

  /**
   * @param accepting Whether this worker's own listener accepts now (not
   * through the other workers); asked when another worker wants to know.
   */
  constructor(accepting: () => boolean = () => true) {
    this.#accepting = accepting;
    this.#channel.onmessage = (event: MessageEvent<unknown>) => {
      // A post still on its way when the channel closed: answering it threw
      // "TypeError: expected i32" (Deno 2.9.6).
      if (this.#closed) return;
      const data = event.data;
      if (data === "where") {
        if (this.#known) this.#channel.postMessage(this.#known);
        return;
      }
      if (data === "accepting?") {
        if (this.#accepting()) this.#channel.postMessage("accepting");
        return;
      }
      if (data === "accepting") {
        for (const resolve of this.#acceptingWaiters.splice(0)) resolve(true);
        return;
      }
      // Another worker's word: anything but these shapes is ignored.
      const claim = schemas().takenClaim.safeParse(data);
      if (claim.success) {
        if (this.#claims.has(claim.data.id)) return;
        this.#claims.set(claim.data.id, claim.data);
        // A worker that started after this one's post missed it: once more.
        if (this.#claim) this.#channel.postMessage(this.#claim);
        return;
      }
      const address = schemas().listenAddress.safeParse(data);
      if (address.success) this.#learn(address.data);
    };
  }

  /**
   * Called when Deno's own listen failed with AddrInUse: posts this worker's
   * claim to say so to every worker. Call it once, before
   * {@link ServeAddress.ask}, whose wait lets the claims arrive.
   */
  foundTaken(): void {
    this.#claim ??= {
      taken: performance.timeOrigin + performance.now(),
      id: crypto.randomUUID(),
    };
    this.#channel.postMessage(this.#claim);
  }

  /**
   * Whether this worker is the one to say that the port is taken: no other
   * claim heard came first. Exactly one worker's answer is true when the
   * claims reached each other (the channel is within one process, and
   * {@link ServeAddress.ask}'s wait is long past a post's way).
   *
   * @throws {TypeError} If {@link ServeAddress.foundTaken} was not called.
   */
  saysTaken(): boolean {
    const own = this.#claim;
    if (!own) {
      throw new TypeError("Cannot elect without a claim: call foundTaken()");
    }
    return [...this.#claims.values()].every((other) =>
      own.taken < other.taken ||
      (own.taken === other.taken && own.id < other.id)
    );
  }

  /** Called by the worker that Deno told (the main one); tells the others. */
  listening(address: ListenAddress): void {
    const known = { hostname: address.hostname, port: address.port };
    this.#learn(known);
    this.#channel.postMessage(known);
  }

  /**
   * The address the main worker listened on, once it is known: at once in
   * the main worker, and in the others when its post (or its answer to a
   * `where`, for a worker that started after the post) arrives. Never
   * settles if no worker listens; the process ends then anyway.
   */
  known(): Promise<ListenAddress> {
    if (this.#known) return Promise.resolve(this.#known);
    const { promise, resolve } = Promise.withResolvers<ListenAddress>();
    this.#waiters.push(resolve);
    this.#channel.postMessage("where");
    return promise;
  }

  /**
   * The address the main worker listened on, or undefined when no worker
   * answers within {@link SERVE_ADDRESS_WAIT_MS} (the main worker never
   * listened: the port is taken, say).
   */
  async ask(): Promise<ListenAddress | undefined> {
    if (this.#known) return this.#known;
    return await this.#firstAnswer("where", this.#waiters, undefined);
  }

  /**
   * Whether another worker's own listener accepts: true on the first
   * answer, false when none comes within {@link SERVE_ADDRESS_WAIT_MS}.
   */
  otherWorkersAccepting(): Promise<boolean> {
    return this.#firstAnswer("accepting?", this.#acceptingWaiters, false);
  }

  /** Closes the channel, so it keeps nothing alive (at shutdown). */
  close(): void {
    this.#closed = true;
    this.#channel.close();
  }

  /**
   * Posts `question` and resolves with the first answer handed to
   * `waiters`, or `none` after {@link SERVE_ADDRESS_WAIT_MS}.
   */
  async #firstAnswer<T, N>(
    question: string,
    waiters: Array<(answer: T) => void>,
    none: N,
  ): Promise<T | N> {
    const { promise, resolve } = Promise.withResolvers<T | N>();
    waiters.push(resolve);
    this.#channel.postMessage(question);
    const timer = setTimeout(() => resolve(none), SERVE_ADDRESS_WAIT_MS);
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
      const index = waiters.indexOf(resolve);
      if (index >= 0) waiters.splice(index, 1);
    }
  }

  #learn(address: ListenAddress): void {
    this.#known ??= address;
    for (const resolve of this.#waiters.splice(0)) resolve(this.#known);
  }
}

/**
 * The shapes of the other workers' messages, built at the first one (zod's
 * schemas cost start-up time; most workers never hear one).
 */
const schemas = lazy(() => ({
  takenClaim: z.object({ taken: z.number(), id: z.string() }),
  listenAddress: z.object({ hostname: z.string(), port: z.int() }),
}));
