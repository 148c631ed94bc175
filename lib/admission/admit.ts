/**
 * Admission for long-lived connections, WebSockets and `/sse` alike: the
 * browser origin check, the memory guard, then a slot under the per-IP and
 * total caps. Every refusal goes through `refusals.ts`.
 *
 * @module
 */
import type { Lease } from "./slots.ts";
import { capacityRefusal, type Refusal, refuse } from "./refusals.ts";
import type { Services } from "../services.ts";

/**
 * True when a browser's `Origin` may connect (non-browser clients send none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { originAllowed } from "./admit.ts";
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

type AdmissionServices = Pick<
  Services,
  "config" | "metrics" | "registry" | "log" | "memory"
>;

/**
 * Why `client` would be refused now, without reserving a slot: 403 for a
 * disallowed origin, 503 while stopping or shedding load, 429 or 503 for a
 * full cap. A plain GET of a WebSocket endpoint asks this, so a page can
 * learn why its upgrade failed (browsers hide the status of a refused one).
 */
export function admissionRefusal(
  services: AdmissionServices,
  client: Client,
): Refusal | undefined {
  const { config, registry, memory } = services;
  if (!originAllowed(client.origin, config.allowedOrigins)) {
    return {
      status: 403,
      reason: "origin",
      headers: {},
      body:
        `Origin "${client.origin}" is not allowed to connect to this server\n`,
    };
  }
  const full = registry.shuttingDown
    ? "shutting_down"
    : memory.shedding
    ? "overloaded"
    : registry.refusalFor(client.key);
  return full && capacityRefusal(full, client.key, config);
}

/**
 * Reserves a slot for `client`, or counts, logs and returns the refusal
 * that {@link admissionRefusal} gives.
 */
export function admitClient(
  services: AdmissionServices,
  client: Client,
): Lease | Response {
  const refusal = admissionRefusal(services, client);
  if (refusal) return refuse(services, client, refusal);
  const lease = services.registry.admit(client.key);
  // Reached only if a cap filled between the check and here: it cannot, as
  // both run in one synchronous turn, but the type says it could.
  if (typeof lease === "string") {
    return refuse(
      services,
      client,
      capacityRefusal(lease, client.key, services.config),
    );
  }
  return lease;
}
