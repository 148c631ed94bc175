/**
 * Every close this service initiates, as a named code with a reason a person
 * can read (RFC 6455 §7.4.1). Reasons stay under the 123-byte limit.
 *
 * @module
 */

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

/** Policy violation (1008): the client sent faster than the message rate allows. */
export function closeMessageRate(perSecond: number): CloseReason {
  return {
    code: 1008,
    reason: `message rate limit: over ${perSecond} messages/s`,
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
