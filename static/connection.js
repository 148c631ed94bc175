/**
 * The page's one WebSocket at a time, with no DOM: it opens and closes the
 * socket, pairs each echo with the send it answers (for the round trip) and
 * counts the bytes still on their way back. Panels listen to its events:
 *
 * - `connecting` {number, url, protocols}: a new socket exists (readyState 0)
 * - `open` {protocol}
 * - `message` {data, roundTrip?: ms, echo: boolean}
 * - `sent` {data} for send(), `burst` {payload, count} for sendMany()
 * - `closing` {code?, reason?}: this page called close()
 * - `error` {}
 * - `close` {code, reason, wasClean, opened, closedByPage, unanswered, url}
 *
 * Events of a socket that was replaced by a newer one are dropped.
 *
 * @module
 */
import { utf8Bytes } from "./format.js";

/**
 * How many messages the server sends first on `url` (/inspect, greeting);
 * on /stream every message is the server's own, none an echo.
 */
export function preludeCount(url) {
  if (url.pathname === "/stream") return Infinity;
  const greeting = url.searchParams.get("greeting");
  return (url.pathname.endsWith("/inspect") ? 1 : 0) +
    (greeting !== null && greeting !== "0" && greeting !== "false" ? 1 : 0);
}

/** The page's WebSocket and what it knows about the messages in flight. */
export class Connection extends EventTarget {
  /** @type {WebSocket | undefined} */
  socket;
  /** Counts connections, for the timeline's #n. */
  number = 0;
  /** Whether the current socket ever reached OPEN. */
  opened = false;
  /** Whether this page called close() on the current socket. */
  closedByPage = false;
  /**
   * Highest bufferedAmount seen on this connection, in bytes: the one peak
   * the State panel and the flow chart's words both give. It is sampled at
   * each send() (a small message is gone from the buffer before the next
   * frame) and every frame.
   */
  peak = 0;
  /** The last round trip in ms, or undefined before the first echo. */
  lastRoundTrip;
  /** Echoes received on this connection. */
  echoes = 0;
  /** Bytes sent and not yet echoed back. */
  outstanding = 0;
  /** When each unanswered message was sent, oldest first. */
  #sentAt = [];
  /** Sizes of the unanswered messages, oldest first. */
  #sentBytes = [];
  /**
   * Messages the server sends before any echo (the /inspect report, the
   * greeting): not answers, so they are not paired with a sent message.
   */
  #unsolicited = 0;
  /** Highest bufferedAmount since the last {@link takeHighest}, in bytes. */
  #highest = 0;

  /** readyState of the current socket, or undefined before the first. */
  get readyState() {
    return this.socket?.readyState;
  }

  /** True while the socket is OPEN. */
  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** bufferedAmount of the current socket, in bytes (0 without one). */
  get bufferedAmount() {
    return this.socket ? this.socket.bufferedAmount : 0;
  }

  /**
   * Opens `url` (a checked ws: or wss: URL) with `protocols`, closing the
   * socket before. Throws what `new WebSocket()` throws.
   * @param {URL} url
   * @param {string[]} protocols
   */
  open(url, protocols) {
    if (this.socket && this.socket.readyState < WebSocket.CLOSING) {
      this.socket.close();
    }
    const current = new WebSocket(url.href, protocols);
    this.socket = current;
    this.number++;
    this.opened = false;
    this.closedByPage = false;
    this.peak = 0;
    this.#highest = 0;
    this.#sentAt = [];
    this.#sentBytes = [];
    this.#unsolicited = preludeCount(url);
    this.outstanding = 0;
    this.echoes = 0;
    this.lastRoundTrip = undefined;
    current.binaryType = "arraybuffer";
    const emit = (type, detail = {}) => {
      if (this.socket === current) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
      }
    };
    current.addEventListener("open", () => {
      this.opened = true;
      emit("open", { protocol: current.protocol });
    });
    current.addEventListener("message", (event) => {
      if (this.socket !== current) return;
      if (this.#unsolicited > 0) {
        this.#unsolicited--;
        return emit("message", { data: event.data, echo: false });
      }
      const sent = this.#sentAt.shift();
      this.outstanding -= this.#sentBytes.shift() ?? 0;
      let roundTrip;
      if (sent !== undefined) {
        roundTrip = performance.now() - sent;
        this.lastRoundTrip = roundTrip;
        this.echoes++;
      }
      emit("message", { data: event.data, echo: true, roundTrip });
    });
    current.addEventListener("error", () => emit("error"));
    current.addEventListener("close", (event) => {
      emit("close", {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        opened: this.opened,
        closedByPage: this.closedByPage,
        unanswered: this.outstanding,
        url: url.href,
      });
    });
    emit("connecting", { number: this.number, url: url.href, protocols });
    return current;
  }

  /** Sends one message on the open socket; false when it is not open. */
  send(data) {
    if (!this.isOpen) return false;
    const at = performance.now();
    this.socket.send(data);
    this.#track(at, typeof data === "string" ? utf8Bytes(data) : data.length);
    this.dispatchEvent(new CustomEvent("sent", { detail: { data } }));
    return true;
  }

  /** Sends `payload` `count` times at once; false when not open. */
  sendMany(payload, count) {
    if (!this.isOpen) return false;
    for (let i = 0; i < count; i++) {
      const at = performance.now();
      this.socket.send(payload);
      this.#track(at, payload.length);
    }
    this.dispatchEvent(
      new CustomEvent("burst", { detail: { payload, count } }),
    );
    return true;
  }

  /** Calls close() on the socket; throws what close() throws. */
  close(code, reason) {
    if (!this.socket || this.socket.readyState >= WebSocket.CLOSING) return;
    this.closedByPage = true;
    if (code === undefined) this.socket.close();
    else this.socket.close(code, reason);
    this.dispatchEvent(
      new CustomEvent("closing", { detail: { code, reason } }),
    );
  }

  /** Samples bufferedAmount into the peak; returns it, in bytes. */
  sample() {
    const buffered = this.bufferedAmount;
    if (buffered > this.peak) this.peak = buffered;
    if (buffered > this.#highest) this.#highest = buffered;
    return buffered;
  }

  /**
   * The highest bufferedAmount sampled since the last call, in bytes, for
   * one point of the flow chart: a point of the moment's value missed the
   * bytes of a send() that left within the 100 ms between two points.
   */
  takeHighest() {
    const highest = this.#highest;
    this.#highest = this.bufferedAmount;
    return highest;
  }

  /**
   * Counts a message sent at `at` (`performance.now()` read before
   * `send()`): read after it, the time of `send()` itself, and of any pause
   * of the page's thread there, went missing from the round trip, which
   * once read 296 ms under `delay=300` (a busy machine, panels_test).
   */
  #track(at, bytes) {
    this.#sentAt.push(at);
    this.#sentBytes.push(bytes);
    this.outstanding += bytes;
    this.sample();
  }
}
