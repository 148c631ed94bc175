/**
 * WebSocket clients for tests: each wait resolves on an event and fails after
 * a deadline with a message naming what was awaited and the URL, so a broken
 * server fails the test instead of hanging it.
 *
 * @module
 */
import { type WaitOptions, withDeadline } from "../bench/wire.ts";

export { type WaitOptions, withDeadline } from "../bench/wire.ts";

/** How long a wait lasts, in milliseconds, unless told. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** Options for {@linkcode openWebSocket} and {@linkcode connect}. */
export interface OpenOptions extends WaitOptions {
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** Extra request headers (Deno's WebSocket accepts them; browsers do not). */
  headers?: Record<string, string>;
}

/**
 * Opens a WebSocket with binaryType "arraybuffer". Messages that arrive
 * before a listener is added are lost: when the server speaks first, use
 * {@linkcode connect}, which listens from the start.
 *
 * @throws {Error} `Cannot connect to <url>` if the handshake fails.
 * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for the open on <url>`;
 * the socket is closed.
 * @example
 * ```ts ignore
 * const socket = await openWebSocket(`${server.ws}/echo`, { protocols: ["chat"] });
 * ```
 */
export async function openWebSocket(
  url: string,
  options: OpenOptions = {},
): Promise<WebSocket> {
  const socket = newWebSocket(url, options);
  await opening(socket, url, options);
  return socket;
}

function newWebSocket(url: string, options: OpenOptions): WebSocket {
  const { protocols, headers } = options;
  const socket = headers
    ? new WebSocket(url, { protocols, headers } as unknown as string[])
    : new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  return socket;
}

/** Resolves when `socket` opens; closes it on failure or timeout. */
async function opening(
  socket: WebSocket,
  url: string,
  options: WaitOptions,
): Promise<WebSocket> {
  const opened = new Promise<WebSocket>((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
  });
  try {
    return await withDeadline(
      opened,
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      `the open on ${url}`,
    );
  } catch (error) {
    socket.close();
    throw error;
  } finally {
    socket.onopen = null;
    socket.onerror = null;
  }
}

type Message = string | ArrayBuffer;

interface Waiter {
  resolve: (data: Message) => void;
  reject: (error: Error) => void;
}

/**
 * Collects messages as they arrive, so none is missed between awaits. Every
 * wait fails after `timeoutMs` (given here or per call); a wait for a message
 * fails at once when the socket closes with none left.
 *
 * @example
 * ```ts ignore
 * const inbox = new Inbox(socket);
 * socket.send("hi");
 * assert.equal(await inbox.next(), "hi");
 * assert.equal((await inbox.closed({ timeoutMs: 2000 })).code, 1000);
 * ```
 */
export class Inbox {
  readonly #queue: Message[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #closed: Promise<CloseEvent>;
  #closeEvent: CloseEvent | undefined;
  readonly #url: string;
  readonly #timeoutMs: number;

  constructor(socket: WebSocket, options: WaitOptions = {}) {
    this.#url = socket.url;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    socket.addEventListener("message", (event) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(event.data);
      else this.#queue.push(event.data);
    });
    this.#closed = new Promise((resolve) =>
      socket.addEventListener("close", (event) => {
        this.#closeEvent = event;
        for (const waiter of this.#waiters.splice(0)) {
          waiter.reject(this.#closedError());
        }
        resolve(event);
      }, { once: true })
    );
  }

  #closedError(): Error {
    const { code, reason } = this.#closeEvent!;
    return new Error(
      `Connection to ${this.#url} closed with ${code} "${reason}" while waiting for the next message`,
    );
  }

  /**
   * The next message, in arrival order.
   *
   * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for the next message on <url>`
   * @throws {Error} If the socket closed and no message is left.
   */
  next(options: WaitOptions = {}): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closeEvent) return Promise.reject(this.#closedError());
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    const waiter = { resolve, reject };
    this.#waiters.push(waiter);
    return withDeadline(
      promise,
      options.timeoutMs ?? this.#timeoutMs,
      `the next message on ${this.#url}`,
    ).catch((error) => {
      // A timed-out waiter must not swallow a later message.
      const index = this.#waiters.indexOf(waiter);
      if (index >= 0) this.#waiters.splice(index, 1);
      throw error;
    });
  }

  /**
   * The next `count` messages, in arrival order; the deadline is per message.
   *
   * @throws {Deno.errors.TimedOut} As {@linkcode Inbox.next}.
   */
  async take(count: number, options: WaitOptions = {}): Promise<Message[]> {
    const messages = [];
    for (let i = 0; i < count; i++) messages.push(await this.next(options));
    return messages;
  }

  /**
   * The close event, once the socket has closed.
   *
   * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for the close on <url>`
   */
  closed(options: WaitOptions = {}): Promise<CloseEvent> {
    return withDeadline(
      this.#closed,
      options.timeoutMs ?? this.#timeoutMs,
      `the close on ${this.#url}`,
    );
  }

  /** Messages that arrived and were not taken yet. */
  get pending(): number {
    return this.#queue.length;
  }
}

/**
 * Opens a socket and its inbox together; the inbox's waits default to
 * `timeoutMs` too.
 *
 * @throws As {@linkcode openWebSocket}.
 * @example
 * ```ts ignore
 * const { socket, inbox } = await connect(`${server.ws}/echo`);
 * ```
 */
export async function connect(
  url: string,
  options: OpenOptions = {},
): Promise<{ socket: WebSocket; inbox: Inbox }> {
  const socket = newWebSocket(url, options);
  // The inbox listens before the open, so a first message from the server
  // (the /inspect report, a greeting) is never missed.
  const inbox = options.timeoutMs === undefined
    ? new Inbox(socket)
    : new Inbox(socket, { timeoutMs: options.timeoutMs });
  await opening(socket, url, options);
  return { socket, inbox };
}

/**
 * Closes a socket (if it is not closing already) and waits for the close
 * handshake to finish.
 *
 * @throws {Deno.errors.TimedOut} As {@linkcode Inbox.closed}.
 * @example
 * ```ts ignore
 * await closeAndWait(socket, inbox);
 * ```
 */
export async function closeAndWait(
  socket: WebSocket,
  inbox: Inbox,
  options: WaitOptions = {},
): Promise<CloseEvent> {
  if (socket.readyState < WebSocket.CLOSING) socket.close();
  return await inbox.closed(options);
}

/**
 * The clock as this module was loaded: a test that stands in its own
 * `performance.now` for the code under test keeps real deadlines.
 */
const monotonicNow = performance.now.bind(performance);

/**
 * Waits until `condition()` holds, checking every 5 ms.
 *
 * @param what What is awaited, for the error message.
 * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for <what>`
 * @example
 * ```ts ignore
 * await until(() => registry.countFor("127.0.0.1") === 0, "the slot to be freed");
 * ```
 */
export async function until(
  condition: () => boolean,
  what: string,
  options: WaitOptions = {},
): Promise<void> {
  const ms = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = monotonicNow() + ms;
  while (!condition()) {
    if (monotonicNow() > deadline) {
      throw new Deno.errors.TimedOut(
        `Timed out after ${ms} ms waiting for ${what}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Reads `reader` until the text read so far satisfies `found`; the reader
 * is cancelled if the deadline passes first.
 *
 * @param what What is awaited, for the error messages.
 * @returns All the text read.
 * @throws {Deno.errors.TimedOut} `Timed out after 5000 ms waiting for <what>`
 * @throws {Error} `The stream ended before <what>: <text>` if it ends first.
 * @example
 * ```ts ignore
 * const text = await readTextUntil(reader, (text) => text.includes("\n\n"), "the first event");
 * ```
 */
export async function readTextUntil(
  reader: ReadableStreamDefaultReader<string>,
  found: (text: string) => boolean,
  what: string,
  options: WaitOptions = {},
): Promise<string> {
  let text = "";
  try {
    await withDeadline(
      (async () => {
        while (!found(text)) {
          const { value, done } = await reader.read();
          if (done) {
            throw new Error(`The stream ended before ${what}: ${text}`);
          }
          text += value;
        }
      })(),
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      what,
    );
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  return text;
}
