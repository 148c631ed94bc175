/**
 * The closing handshake this service starts (RFC 6455 §5.5.1, §7.1.1): after
 * its Close frame the server sends no more data but keeps reading, and
 * discards, what the client had in flight until the client's Close arrives;
 * only then is the TCP connection closed.
 *
 * Deno 2.9's server WebSocket does not: once `close()` has set `readyState`
 * to CLOSING, the next data frame the client sent makes its event loop drop
 * the connection at once (`_eventLoop` in ext/websocket/01_websocket.js,
 * "close the connection if read was cancelled", from denoland/deno#24301).
 * `op_ws_close` is a lazy op that looks the socket up only when first
 * polled, so when that data frame is handled first the Close frame is never
 * written: the client sees the TCP connection end with no Close frame (1006,
 * "Unexpected EOF") while the server logs a clean close. Measured with
 * `deno run -A bench/close_race.ts`.
 *
 * {@link sendClose} works around it from outside: it sends the Close frame
 * through `close()`, then puts the socket's internal ready state back to
 * OPEN, so Deno keeps reading and hands data frames to the message listener
 * (the connection ignores them once closing) until the client's Close, which
 * Deno then answers with nothing more (its write half has sent a Close
 * already) and reports as a clean close. {@link stopReading} restores
 * Deno's own behaviour, for a client that will not finish the handshake.
 * Should the internal slot ever change, both fall back to plain `close()`.
 *
 * @module
 */

/** `WebSocket.OPEN` and `WebSocket.CLOSING`, the values Deno stores. */
const OPEN = 1;
const CLOSING = 2;

/** The description of Deno's private ready-state slot on a WebSocket. */
const READY_STATE_SLOT = "[[readyState]]";

/** Found once, on the first socket closed: every WebSocket shares it. */
let readyStateSlot: symbol | null | undefined;

function slotOf(socket: WebSocket): symbol | undefined {
  if (readyStateSlot === undefined) {
    readyStateSlot = Object.getOwnPropertySymbols(socket).find((symbol) =>
      symbol.description === READY_STATE_SLOT
    ) ?? null;
  }
  return readyStateSlot ?? undefined;
}

/** A WebSocket seen as the record of its slots. */
type Slots = Record<symbol, unknown>;

/**
 * Sends a Close frame with `code` and `reason` and keeps reading until the
 * client answers with its own, as RFC 6455 §7.1.1 asks; the socket's `close`
 * event follows the client's Close frame.
 *
 * @returns True when Deno keeps reading; false when it could not be made to
 * (its internal slot changed): then Deno's own close applies.
 * @throws {DOMException} As `WebSocket.close()` does, for a bad code or reason.
 * @example Close after the echo of "Goodbye"
 * ```ts ignore
 * sendClose(socket, 1000, "Goodbye");
 * ```
 */
export function sendClose(
  socket: WebSocket,
  code: number,
  reason: string,
): boolean {
  const wasOpen = socket.readyState === OPEN;
  socket.close(code, reason);
  const slot = slotOf(socket);
  if (!wasOpen || slot === undefined) return false;
  const slots = socket as unknown as Slots;
  if (slots[slot] !== CLOSING) return false;
  slots[slot] = OPEN;
  return true;
}

/**
 * Gives up waiting for the client's Close after {@link sendClose} returned
 * true: the next frame the client sends makes Deno drop the connection, as
 * it does on its own. Only for a socket {@link sendClose} closed: on an open
 * one it would stop the socket without a Close frame.
 */
export function stopReading(socket: WebSocket): void {
  const slot = slotOf(socket);
  if (slot === undefined) return;
  const slots = socket as unknown as Slots;
  if (slots[slot] === OPEN) slots[slot] = CLOSING;
}
