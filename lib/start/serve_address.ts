/**
 * Under `deno serve --parallel`, only the main worker learns the address
 * Deno listens on (its `onListen`); the others are never told. A worker
 * whose listener failed must listen again on that address, so the workers
 * share it over a `BroadcastChannel`, which reaches every worker of the
 * process: the main worker answers a `where` with the address.
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

  constructor() {
    this.#channel.onmessage = (event: MessageEvent<unknown>) => {
      const data = event.data;
      if (data === "where") {
        if (this.#known) this.#channel.postMessage(this.#known);
        return;
      }
      if (isListenAddress(data)) this.#learn(data);
    };
  }

  /** Called by the worker that Deno told (the main one). */
  listening(address: ListenAddress): void {
    this.#learn({ hostname: address.hostname, port: address.port });
  }

  /**
   * The address, asking the other workers when this one was not told;
   * `fallback` when no answer comes within {@link SERVE_ADDRESS_WAIT_MS}.
   */
  async find(fallback: ListenAddress): Promise<ListenAddress> {
    if (this.#known) return this.#known;
    const { promise, resolve } = Promise.withResolvers<ListenAddress>();
    this.#waiters.push(resolve);
    this.#channel.postMessage("where");
    const timer = setTimeout(() => resolve(fallback), SERVE_ADDRESS_WAIT_MS);
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the channel, so it keeps nothing alive (at shutdown). */
  close(): void {
    this.#channel.close();
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
