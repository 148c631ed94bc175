/**
 * Every refused request to a connection endpoint (the WebSocket endpoints and
 * `/sse`) goes through {@link refuse}, which counts it in `/metrics`, logs
 * one line and answers with the right status and a short plain-text body,
 * as ws's `abortHandshake` and python-websockets' `reject` do.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";

/** Why a request was refused; the `reason` label in `/metrics` and the log. */
export type RefusalReason =
  | "plain_http"
  | "bad_handshake"
  | "bad_version"
  | "bad_options"
  | "client_gone"
  | "origin"
  | "per_ip"
  | "total"
  | "overloaded"
  | "shutting_down";

/** A refusal: the status, headers and body to answer with, and why. */
export interface Refusal {
  status: 400 | 403 | 426 | 429 | 503;
  reason: RefusalReason;
  headers: Record<string, string>;
  body: string;
}

/** Who was refused, for the log line. */
export interface Refused {
  /** `ws` for the WebSocket endpoints, `sse` for `/sse`. */
  kind: "ws" | "sse";
  path: string;
  /** The client IP as the limits see it, when known. */
  ip?: string | undefined;
  /** The `Origin` header, logged for origin refusals. */
  origin?: string | undefined;
}

/**
 * Counts, logs and answers one refusal. The response is never cached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Metrics } from "../metrics.ts";
 * import { refuse } from "./refusals.ts";
 * const metrics = new Metrics();
 * const lines: string[] = [];
 * const response = refuse({ metrics, log: (r) => lines.push(r.event) }, {
 *   kind: "ws",
 *   path: "/echo",
 * }, { status: 400, reason: "bad_handshake", headers: {}, body: "Bad key\n" });
 * assert.equal(response.status, 400);
 * assert.equal(metrics.refusals.get("bad_handshake"), 1);
 * assert.deepEqual(lines, ["ws_refused"]);
 * ```
 */
export function refuse(
  services: { metrics: Metrics; log: Log },
  who: Refused,
  refusal: Refusal,
): Response {
  services.metrics.refused(refusal.reason);
  services.log({
    event: `${who.kind}_refused`,
    ip: who.ip,
    reason: refusal.reason,
    status: refusal.status,
    path: who.path,
    origin: refusal.reason === "origin" ? who.origin ?? "" : undefined,
  });
  return new Response(refusal.body, {
    status: refusal.status,
    headers: {
      ...refusal.headers,
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
    },
  });
}

/** Seconds a refused client should wait before retrying a full server. */
export const RETRY_AFTER_SECONDS = 10;
/** Seconds to wait while the server sheds load: a budget recovers fast. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 5;

/**
 * The refusal for a full cap or an overloaded or stopping server.
 *
 * @param client The per-IP key: an IPv4 address or an IPv6 prefix.
 */
export function capacityRefusal(
  reason: "per_ip" | "total" | "overloaded" | "shutting_down",
  client: string,
  config: Config,
): Refusal {
  const retry = { "Retry-After": String(RETRY_AFTER_SECONDS) };
  switch (reason) {
    case "per_ip":
      return {
        status: 429,
        reason,
        headers: retry,
        body:
          `Too many connections from ${client}: at most ${config.maxConnectionsPerIp} at once. Close one and retry\n`,
      };
    case "total":
      return {
        status: 503,
        reason,
        headers: retry,
        body:
          `Server full: ${config.maxConnections} connections open. Retry later\n`,
      };
    case "overloaded":
      return {
        status: 503,
        reason,
        headers: { "Retry-After": String(OVERLOAD_RETRY_AFTER_SECONDS) },
        body:
          `Server overloaded: it holds too much unread data. Retry in ${OVERLOAD_RETRY_AFTER_SECONDS} seconds\n`,
      };
    case "shutting_down":
      return {
        status: 503,
        reason,
        headers: retry,
        body: "Server shutting down. Retry later\n",
      };
  }
}
