/**
 * Admission for long-lived connections, WebSockets and `/sse` alike: the
 * browser origin check, the memory guard, then a slot under the per-IP and
 * total caps. Every refusal goes through `refusals.ts`.
 *
 * @module
 */
import type { Lease } from "./registry.ts";
import { capacityRefusal, refuse } from "./refusals.ts";
import type { Services } from "./services.ts";

/**
 * True when a browser's `Origin` may connect (non-browser clients send none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { originAllowed } from "./admission.ts";
 * assert.equal(originAllowed("https://a.example", ["https://a.example"]), true);
 * assert.equal(originAllowed("https://b.example", ["https://a.example"]), false);
 * assert.equal(originAllowed(undefined, ["https://a.example"]), true);
 * ```
 */
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
  path: string;
  /** Client IP as the limits see it. */
  ip: string;
  /** What the per-IP cap counts: the IPv4 address or the IPv6 prefix. */
  key: string;
  /** The request's `Origin` header, if any. */
  origin: string | undefined;
}

/**
 * Reserves a connection slot for `client`, or counts, logs and returns the
 * refusal: 403 for a disallowed origin, 503 while shedding load or stopping,
 * 429 or 503 for a full cap.
 */
export function admitClient(
  services: Pick<
    Services,
    "config" | "metrics" | "registry" | "log" | "memory"
  >,
  client: Client,
): Lease | Response {
  const { config, registry, memory } = services;
  if (!originAllowed(client.origin, config.allowedOrigins)) {
    return refuse(services, client, {
      status: 403,
      reason: "origin",
      headers: {},
      body:
        `Origin "${client.origin}" is not allowed to connect to this server\n`,
    });
  }
  const lease = registry.shuttingDown
    ? "shutting_down"
    : memory.shedding
    ? "overloaded"
    : registry.admit(client.key);
  if (typeof lease === "string") {
    return refuse(services, client, capacityRefusal(lease, client.key, config));
  }
  return lease;
}
