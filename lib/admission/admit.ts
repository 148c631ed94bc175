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
import type { RefusalLog } from "./refusal_log.ts";
import type { Metrics } from "../metrics.ts";
import { type Refusal, refusal } from "../refusals.ts";
import type { MemoryGuard } from "./memory_guard.ts";
import { refuse } from "./refuse.ts";
import type { ConnectionRegistry, Lease, NoSlot } from "./slots.ts";
import type { SuspectList } from "./suspects.ts";
import { clientIp, clientKey, networkKey } from "./client_ip.ts";

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

/**
 * Who is asking, as the limits see them: the client IP (the socket's peer,
 * or the entry TRUST_PROXY names in X-Forwarded-For), its per-IP key (the
 * IPv4 address or the IPv6 prefix) and the browser's `Origin`. The one place
 * the WebSocket endpoints and `/sse` identify a client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "../config.ts";
 * import { identifyClient } from "./admit.ts";
 * const client = identifyClient(DEFAULT_CONFIG, {
 *   kind: "ws",
 *   path: "/echo",
 *   request: new Request("http://localhost/echo"),
 *   peer: { hostname: "2001:db8::1:2:3:4" },
 * });
 * assert.equal(client.ip, "2001:db8::1:2:3:4");
 * assert.equal(client.key, "2001:db8::/64");
 * ```
 */
export function identifyClient(
  config: Pick<Config, "trustProxy" | "ipv6PrefixLength">,
  asking: {
    kind: Client["kind"];
    path: string;
    request: Request;
    /** The TCP peer Deno reports; none in `app.request()` tests. */
    peer: { hostname: string } | undefined;
  },
): Client {
  const { headers } = asking.request;
  const ip = clientIp(asking.peer?.hostname, headers, config.trustProxy);
  return {
    kind: asking.kind,
    path: asking.path,
    ip,
    key: clientKey(ip, config.ipv6PrefixLength),
    origin: headers.get("origin") ?? undefined,
  };
}

/** What admission reads and counts in: a part of the app's `Services`. */
export interface AdmissionServices {
  config: Config;
  metrics: Metrics;
  registry: ConnectionRegistry;
  log: Log;
  /** Where `refuse()` logs: the first refusal at once, repeats as counts. */
  refusalLog: RefusalLog;
  memory: MemoryGuard;
  /** Addresses refused for being silent at repeated overload incidents. */
  suspects: SuspectList;
  /**
   * The overload watch's state: once it has decided the process must end
   * (`failing`), newcomers are refused as when stopping.
   */
  overload?: { readonly status: "ok" | "recycling" | "failing" };
}

/**
 * The refusal for a full cap, or a server that sheds or stops.
 *
 * @param client The per-IP key: an IPv4 address or an IPv6 prefix.
 */
export function capacityRefusal(
  reason: "per_ip" | "total" | "overloaded" | "shutting_down",
  client: string,
  services: Pick<AdmissionServices, "config" | "registry">,
): Refusal {
  const { config, registry } = services;
  switch (reason) {
    case "per_ip":
      return refusal("per_ip", { client, max: config.maxConnectionsPerIp });
    case "total":
      return refusal("total", {
        max: config.maxConnections,
        taken: registry.total,
        held: registry.heldOpen,
        leaked: registry.leaked,
      });
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
  return decide<never>(services, client, (key) => {
    return services.registry.noSlotFor(key);
  });
}

/**
 * Reserves a slot for `client`, or returns the refusal that
 * {@link previewAdmission} would give, counting nothing: the caps are
 * checked once, by the registry as it takes the slot.
 */
export function admit(
  services: AdmissionServices,
  client: Client,
): Lease | Refusal {
  const taken = decide<Lease>(services, client, (key) => {
    return services.registry.admit(key);
  })!;
  // A WebSocket may send a message before anything counts it; `/sse` not.
  if ("release" in taken && client.kind === "ws") {
    services.memory.admitted(taken);
  }
  return taken;
}

/** {@link admit}, with a refusal counted, logged and answered. */
export function admitClient(
  services: AdmissionServices,
  client: Client,
): Lease | Response {
  const admitted = admit(services, client);
  return "release" in admitted ? admitted : refuse(services, client, admitted);
}

/**
 * The refusals that come before the caps (origin, suspect, stopping,
 * shedding), then
 * `take`'s answer for the caps: a slot, none taken (a preview), or which cap
 * is full.
 */
function decide<Taken extends object>(
  services: AdmissionServices,
  client: Client,
  take: (key: string) => Taken | NoSlot | undefined,
): Taken | Refusal | undefined {
  const { config, registry, memory } = services;
  if (!originAllowed(client.origin, config.allowedOrigins)) {
    return refusal("origin", { origin: client.origin });
  }
  const listed = services.suspects.refusal(client.key);
  if (listed) {
    const { key, seconds } = listed;
    const refused = refusal("suspect", { client: key, seconds });
    refused.headers["Retry-After"] = String(seconds);
    return refused;
  }
  // The process ends shortly (`overload_watch.ts`): an upgrade admitted
  // now would be closed within seconds, and one reset now leaks a
  // descriptor that only the ending frees.
  if (services.overload?.status === "failing" && !registry.shuttingDown) {
    return capacityRefusal("shutting_down", client.key, services);
  }
  // Stopping wins over shedding, as the registry's own check comes first.
  // A network the budget has not shed lately is admitted while the guard
  // only waits for the shed to leave (`MemoryGuard.admitsFrom`), if the
  // budget has room for what it may bring (`MemoryGuard.admitsNew`).
  const network = networkKey(client.ip, config.ipv6PrefixLength);
  const shedding = memory.refusing && !memory.admitsFrom(network);
  if ((shedding || !memory.admitsNew(network)) && !registry.shuttingDown) {
    return capacityRefusal("overloaded", client.key, services);
  }
  const taken = take(client.key);
  return typeof taken === "string"
    ? capacityRefusal(taken, client.key, services)
    : taken;
}
