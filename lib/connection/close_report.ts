/**
 * What a finished echo connection leaves behind: its close counted in the
 * metrics (`ws_echo_closes_total` by code, the duration) and its one
 * `ws_close` log line. The connection gives the code this service sent
 * when it closed (a socket Deno dropped reports 0), and 1006 with
 * {@link CLOSE_TIMEOUT_REASON} for a close the client never answered.
 *
 * @module
 */
import type { LimitReason } from "../limits.ts";
import type { LogRecord } from "../log.ts";
import type { ConnectionServices } from "./connection_options.ts";

/** Why a close this service started was given up: the client never answered. */
export const CLOSE_TIMEOUT_REASON =
  "close timeout: no answer to the close frame";

/** One finished connection, as {@link reportClose} reports it. */
export interface ClosedConnection {
  /** Connection id. */
  id: string;
  /** Client IP as the limits see it. */
  ip: string;
  /**
   * The code of the close this service sent, else the one Deno reported;
   * 1006 for a close never answered.
   */
  code: number;
  /** Its reason, likewise ({@link CLOSE_TIMEOUT_REASON}). */
  reason: string;
  /** The limit broken, when that is why the service closed. */
  limit: LimitReason | undefined;
  /**
   * For a close this service started, where it waited for the answer:
   * whether the client's Close frame came back (false: the close timed
   * out, or a stop's grace ran out first). Absent where not known (a
   * client failed for a broken limit, Deno's own close under serve).
   */
  answered?: boolean;
  /**
   * For a close this service started: ms from the decision to close to
   * the connection's end.
   */
  closeWaitMs?: number;
  /** When the connection was accepted (ms since epoch). */
  openedAt: number;
  /** Messages received. */
  messages: number;
  /** Payload bytes received. */
  bytesIn: number;
  /** Payload bytes sent. */
  bytesOut: number;
}

/** Counts the close in the metrics and logs its `ws_close` line. */
export function reportClose(
  services: Pick<ConnectionServices, "metrics" | "log">,
  closed: ClosedConnection,
): void {
  const durationMs = Date.now() - closed.openedAt;
  services.metrics.closed(closed.code, durationMs);
  // Fields set in the line's order, not spread: one object per close.
  const record: LogRecord = {
    event: "ws_close",
    id: closed.id,
    ip: closed.ip,
    code: closed.code,
    reason: closed.reason,
  };
  if (closed.limit) record.limit = closed.limit;
  if (closed.answered !== undefined) record.answered = closed.answered;
  if (closed.closeWaitMs !== undefined) record.closeWaitMs = closed.closeWaitMs;
  record.durationMs = durationMs;
  record.messages = closed.messages;
  record.bytesIn = closed.bytesIn;
  record.bytesOut = closed.bytesOut;
  services.log(record);
}
