/**
 * Admission for long-lived connections, WebSockets and `/sse` alike: the
 * browser origin check, then a slot under the per-IP and total caps. Both
 * endpoints refuse with the same statuses and bodies and log the same line.
 *
 * @module
 */
import type { Lease } from "./registry.ts";
import { admissionRefusal, refuse } from "./refusals.ts";
import type { Services } from "./services.ts";

/** True when a browser's `Origin` may connect (non-browser clients send none). */
export function originAllowed(
  origin: string | undefined,
  allowed: "*" | string[],
): boolean {
  return allowed === "*" || origin === undefined || allowed.includes(origin);
}

/** Who is asking, as the limits see them. */
export interface Client {
  /** Log prefix: `ws` or `sse`. */
  kind: "ws" | "sse";
  /** Client IP as the limits see it. */
  ip: string;
  /** The request's `Origin` header, if any. */
  origin: string | undefined;
}

/**
 * Reserves a connection slot for `client`, or counts, logs and returns the
 * refusal: 403 for a disallowed origin, 429 or 503 for a full cap.
 */
export function admitClient(
  services: Pick<Services, "config" | "metrics" | "registry" | "log">,
  client: Client,
): Lease | Response {
  const { config, metrics, registry, log } = services;
  const { kind, ip, origin } = client;
  if (!originAllowed(origin, config.allowedOrigins)) {
    metrics.refused("origin");
    log(
      `${kind} refused ip=${ip} reason=origin origin=${JSON.stringify(origin)}`,
    );
    return refuse({
      status: 403,
      headers: {},
      body: `Origin "${origin}" is not allowed to connect to this server\n`,
    });
  }
  const lease = registry.admit(ip);
  if (typeof lease === "string") {
    metrics.refused(lease);
    log(`${kind} refused ip=${ip} reason=${lease}`);
    return refuse(admissionRefusal(lease, ip, config));
  }
  return lease;
}
