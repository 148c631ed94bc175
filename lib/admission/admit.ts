/**
 * Admission for long-lived connections, WebSockets and `/sse` alike: the
 * browser origin check, the memory guard, then a slot under the per-IP and
 * total caps. Every refusal is a row of `lib/refusals.ts`, answered by
 * `refuse.ts`.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { type Refusal, refusal } from "../refusals.ts";
import type { MemoryGuard } from "./memory_guard.ts";
import { refuse } from "./refuse.ts";
import type { ConnectionRegistry, Lease } from "./slots.ts";
import type { SuspectList } from "./suspects.ts";

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

/** What admission reads and counts in: a part of the app's `Services`. */
export interface AdmissionServices {
  config: Config;
  metrics: Metrics;
  registry: ConnectionRegistry;
  log: Log;
  memory: MemoryGuard;
  /** Addresses refused for being silent at repeated overload incidents. */
  suspects: SuspectList;
}

/**
 * The refusal for a full cap, or a server that sheds or stops.
 *
 * @param client The per-IP key: an IPv4 address or an IPv6 prefix.
 */
export function capacityRefusal(
  reason: "per_ip" | "total" | "overloaded" | "shutting_down",
  client: string,
  config: Pick<Config, "maxConnectionsPerIp" | "maxConnections">,
): Refusal {
  switch (reason) {
    case "per_ip":
      return refusal("per_ip", { client, max: config.maxConnectionsPerIp });
    case "total":
      return refusal("total", { max: config.maxConnections });
    default:
      return refusal(reason);
  }
}

/**
 * Why `client` would be refused now, without reserving a slot: 403 for a
 * disallowed origin, 429 for an address on the suspect list, 503 while
 * stopping or shedding load, 429 or 503 for a full cap. A plain GET of a WebSocket endpoint asks this, so a page can
 * learn why its upgrade failed (browsers hide the status of a refused one).
 */
export function previewAdmission(
  services: AdmissionServices,
  client: Client,
): Refusal | undefined {
  const { config, registry, memory, suspects } = services;
  if (!originAllowed(client.origin, config.allowedOrigins)) {
    return refusal("origin", { origin: client.origin });
  }
  const seconds = suspects.refusedFor(client.key);
  if (seconds > 0) {
    const refused = refusal("suspect", { client: client.key, seconds });
    refused.headers["Retry-After"] = String(seconds);
    return refused;
  }
  const full = registry.shuttingDown
    ? "shutting_down"
    : memory.shedding
    ? "overloaded"
    : registry.noSlotFor(client.key);
  return full && capacityRefusal(full, client.key, config);
}

/**
 * Reserves a slot for `client`, or counts, logs and returns the refusal
 * that {@link previewAdmission} gives.
 */
export function admitClient(
  services: AdmissionServices,
  client: Client,
): Lease | Response {
  const refused = previewAdmission(services, client);
  if (refused) return refuse(services, client, refused);
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
