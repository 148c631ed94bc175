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
 * @module
 */

/** The channel's name; one per process. */
export const SERVE_ADDRESS_CHANNEL = "ws-echo:serve-address";

/** How long a worker waits for the main worker's answer, in milliseconds. */
export const SERVE_ADDRESS_WAIT_MS = 1000;

/** The part of an address a worker needs to listen again. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** One worker's view of the shared address. */
export class ServeAddress {
  readonly #channel = new BroadcastChannel(SERVE_ADDRESS_CHANNEL);
  #known: ListenAddress | undefined;
  readonly #waiters: Array<(address: ListenAddress) => void> = [];
  readonly #acceptingWaiters: Array<(accepting: boolean) => void> = [];
  readonly #accepting: () => boolean;

  /**
   * @param accepting Whether this worker's own listener accepts now (not
   * through the other workers); asked when another worker wants to know.
   */
  constructor(accepting: () => boolean = () => true) {
    this.#accepting = accepting;
    this.#channel.onmessage = (event: MessageEvent<unknown>) => {
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
      if (isListenAddress(data)) this.#learn(data);
    };
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

function isListenAddress(data: unknown): data is ListenAddress {
  return typeof data === "object" && data !== null &&
    typeof (data as ListenAddress).hostname === "string" &&
    Number.isInteger((data as ListenAddress).port);
}
