/**
 * Every close this service initiates, as a named code with a reason a person
 * can read (RFC 6455 §7.4.1). Reasons stay under the 123-byte limit.
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
/** No message from the client for IDLE_TIMEOUT_SECONDS. */
export const CLOSE_IDLE: CloseReason = { code: 1000, reason: "idle timeout" };
/** SIGINT or SIGTERM: the instance is stopping; reconnect elsewhere. */
export const CLOSE_SHUTDOWN: CloseReason = {
  code: 1001,
  reason: "server shutting down",
};

/**
 * Try Again Later (1013, IANA registry): the server is over its memory budget
 * and closed the connections holding the most unread data first.
 */
export const CLOSE_OVERLOADED: CloseReason = {
  code: 1013,
  reason: "server overloaded: try again later",
};

/** Policy violation (1008): the client sent faster than the message rate allows. */
export function closeMessageRate(perSecond: number): CloseReason {
  return {
    code: 1008,
    reason: `message rate limit: over ${perSecond} messages/s`,
  };
}

/**
 * Policy violation (1008): the client's connections together sent faster than
 * one address may (RATE_LIMIT_IP_MESSAGES_PER_SECOND).
 */
export function closeClientMessageRate(perSecond: number): CloseReason {
  return {
    code: 1008,
    reason:
      `message rate limit: over ${perSecond} messages/s from your address`,
  };
}

/** Policy violation (1008): the client sent more bytes than the byte rate allows. */
export function closeByteRate(perSecond: number): CloseReason {
  return { code: 1008, reason: `byte rate limit: over ${perSecond} bytes/s` };
}

/** Policy violation (1008): the client does not read its echoes. */
export function closeSlowReader(maxBufferedBytes: number): CloseReason {
  return {
    code: 1008,
    reason: `slow reader: over ${maxBufferedBytes} bytes waiting to be read`,
  };
}

/** Message too big (1009): the message was not echoed. */
export function closeTooBig(maxMessageBytes: number): CloseReason {
  return {
    code: 1009,
    reason: `message too big: limit is ${maxMessageBytes} bytes`,
  };
}

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
