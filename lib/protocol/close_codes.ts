/**
 * The closes of the protocol and of this service's lifecycle, as named codes
 * with a reason a person can read (RFC 6455 §7.4.1), and what a server may
 * send. The closes for a broken limit are rows of `lib/limits.ts`. Reasons
 * stay under the 123-byte limit.
 *
 * @module
 */
import { utf8ByteLength } from "./utf8.ts";

/** A close code with the reason the service sends with it. */
export interface CloseReason {
  readonly code: number;
  readonly reason: string;
}

/** pywebsocket compatibility: the text message "Goodbye" ends the session. */
export const CLOSE_GOODBYE: CloseReason = { code: 1000, reason: "Goodbye" };

/**
 * The close that follows echoing `data`: {@link CLOSE_GOODBYE} after the
 * text message "Goodbye" (pywebsocket's echo handler), none otherwise. A
 * binary "Goodbye" is only echoed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CLOSE_GOODBYE, closeAfterEcho } from "./close_codes.ts";
 * assert.equal(closeAfterEcho("Goodbye"), CLOSE_GOODBYE);
 * assert.equal(closeAfterEcho(new TextEncoder().encode("Goodbye").buffer), undefined);
 * ```
 */
export function closeAfterEcho(
  data: string | ArrayBuffer,
): CloseReason | undefined {
  return data === "Goodbye" ? CLOSE_GOODBYE : undefined;
}
/** SIGINT or SIGTERM: the instance is stopping; reconnect elsewhere. */
export const CLOSE_SHUTDOWN: CloseReason = {
  code: 1001,
  reason: "server shutting down",
};

/** The close codes a server may send (RFC 6455 §7.4), as people write them. */
export const SENDABLE_CLOSE_CODES = "1000-1003, 1007-1011 or 3000-4999";

/** Longest close reason: a control frame payload is 125 bytes, 2 are the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * True for codes a server may put in a close frame (RFC 6455 §7.4.1-7.4.2,
 * with 1011 from IANA's registry). 1004-1006 and 1015 only ever describe a
 * close locally, 2000-2999 belong to extensions; 3000-3999 are registered by
 * libraries and frameworks, 4000-4999 are free for applications.
 */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
      (code >= 3000 && code <= 4999));
}

/**
 * Reads a `/close` command (pywebsocket's close handler): text "CODE REASON"
 * or "CODE". Returns the close to send, a reply saying why it cannot be sent,
 * or undefined when the text is not a command and should be echoed.
 */
export function parseCloseCommand(
  text: string,
): CloseReason | { refusal: string } | undefined {
  const match = /^(\d{1,5})(?: ([\s\S]*))?$/.exec(text);
  if (!match) return undefined;
  const code = Number(match[1]);
  const reason = match[2] ?? "";
  if (!isSendableCloseCode(code)) {
    return {
      refusal:
        `Cannot close with code ${code}: a server may send ${SENDABLE_CLOSE_CODES}. Send "CODE REASON", e.g. "4000 done".`,
    };
  }
  const bytes = utf8ByteLength(reason);
  if (bytes > MAX_CLOSE_REASON_BYTES) {
    return {
      refusal:
        `Cannot close with a ${bytes}-byte reason: a close reason is at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8.`,
    };
  }
  return { code, reason };
}

/** `/stream` sent every message it was asked for. */
export const CLOSE_STREAM_COMPLETE: CloseReason = {
  code: 1000,
  reason: "stream complete",
};
