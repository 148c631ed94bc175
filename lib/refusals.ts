/**
 * HTTP refusals shared by the WebSocket endpoints and `/sse`: one short
 * plain-text body that says why, the right status, and `Retry-After` where
 * retrying can help.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { Refusal } from "./handshake.ts";
import type { AdmissionRefusal } from "./registry.ts";

/** A refusal as a response that no cache keeps. */
export function refuse(refusal: Refusal): Response {
  return new Response(refusal.body, {
    status: refusal.status,
    headers: {
      ...refusal.headers,
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
    },
  });
}

/** Why the registry would not admit `ip`, as 429 or 503. */
export function admissionRefusal(
  reason: AdmissionRefusal,
  ip: string,
  config: Config,
): Refusal {
  if (reason === "per_ip") {
    return {
      status: 429,
      headers: { "Retry-After": "10" },
      body:
        `Too many connections from ${ip}: at most ${config.maxConnectionsPerIp} at once. Close one and retry\n`,
    };
  }
  return {
    status: 503,
    headers: { "Retry-After": "10" },
    body: reason === "total"
      ? `Server full: ${config.maxConnections} connections open. Retry later\n`
      : "Server shutting down. Retry later\n",
  };
}
