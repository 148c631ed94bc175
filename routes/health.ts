/**
 * `GET /healthz` (JSON for load balancers and people) and `GET /metrics`
 * (Prometheus), both read from the same counters.
 *
 * @module
 */
import { Hono } from "hono/quick";
import { prometheusText } from "../lib/metric_catalogue.ts";
import {
  type AppEnv,
  LISTENER_FAILURE_WINDOW_MS,
  LISTENER_FAILURES_UNHEALTHY,
  type ListenerState,
  type Services,
} from "../lib/services.ts";
import { publicIncident } from "../lib/start/incident_log.ts";

/** Health and metrics endpoints. */
export function healthRoutes(services: Services): Hono<AppEnv> {
  const { metrics, registry, memory, overload, suspects, rooms } = services;
  const route = new Hono<AppEnv>();
  route.get("/healthz", function healthz(c) {
    c.header("Cache-Control", "no-store");
    const state = memory.state();
    // Read per request: the server replaces it once it listens.
    const listener = services.listener;
    // Shedding and one failure to accept stay 200: the process serves its
    // open connections, and a restart would drop them all. A listener down,
    // or failing again within 3 s, refuses most newcomers: 503, which tells
    // a load balancer to send them elsewhere. Once the overload watch has given up
    // (the listener stayed down), 503 until it exits.
    const failing = overload.status === "failing";
    // Incidents that repeat (lib/overload_pressure.ts): the process answers
    // between them, but a flood holds it again and again. Still 200.
    const degraded = metrics.recentIncidents.degraded();
    // Every upgrade is refused `503 reason=total` while no slot is free:
    // `ok` then told a load balancer nothing (issue #20). Still 200: the
    // open connections are served, and a restart would drop them.
    const free = registry.maxTotal === 0
      ? null
      : Math.max(0, registry.maxTotal - registry.total - registry.leaked);
    // A listener that failed lately may be up this instant (it re-listens
    // 100 ms after a failure) and fail at the next connection.
    const listenerFailures = recentListenerFailures(listener);
    const notAccepting = !listener.accepting || listenerFailures > 0;
    const status = registry.shuttingDown
      ? "shutting_down"
      : failing
      ? "failing"
      : overload.status === "recycling"
      ? "recycling"
      : notAccepting
      ? "not_accepting"
      : state.shedding
      ? "shedding"
      : free === 0
      ? "full"
      : degraded
      ? "degraded"
      : "ok";
    // Down, or failing again after listening again: most new connections
    // are refused or reset, so a load balancer should send them elsewhere.
    const refusingMost = status === "not_accepting" &&
      (!listener.accepting ||
        listenerFailures >= LISTENER_FAILURES_UNHEALTHY &&
          !listener.viaOtherWorkers);
    return c.json({
      status,
      // Why it is failing: the incident that decided the process must end;
      // why it is not accepting: the listener's failures and the last error.
      ...(failing && overload.lastIncident
        ? {
          reason: overload.lastIncident.reason ?? overload.lastIncident.cause,
        }
        : status === "not_accepting"
        ? { reason: notAcceptingReason(listener, listenerFailures) }
        : {}),
      // How many stall or memory incidents in the window, and the last one's
      // cause; shown whenever they repeat, whatever the status.
      ...(degraded ? { degraded } : {}),
      // WebSockets and /sse streams: each holds a descriptor and a slot.
      connections: metrics.connectionsOpen + metrics.streamsOpen,
      streams: metrics.streamsOpen,
      uptimeSeconds: Math.floor(metrics.uptimeSeconds()),
      memory: state,
      listener: { ...listener, recentFailures: listenerFailures },
      // Upgrades Deno leaked (reset by their client) hold a descriptor each
      // until the process ends; open and limit need --allow-all (null).
      descriptors: {
        open: metrics.descriptorsOpen ?? null,
        limit: metrics.descriptorLimit ?? null,
        leakedUpgrades: metrics.upgradesLeaked,
      },
      // What a newcomer's upgrade meets (MAX_CONNECTIONS in force, 0 = off):
      // slots taken (connections, streams, upgrades not yet open, and
      // `held`: closed slow readers' slots whose socket may remain) and
      // descriptors leaked for good count against it; `free` is what is
      // left. `heldPerIp`: held slots whose socket is gone, which count
      // only against their client's MAX_CONNECTIONS_PER_IP.
      cap: {
        max: registry.maxTotal,
        taken: registry.total,
        held: registry.heldOpen,
        heldPerIp: registry.heldGone,
        leaked: registry.leaked,
        free,
      },
      rooms: rooms.state(),
      overload: {
        ...overload,
        // Incidents by what was done: a `reported` one closed nobody, a
        // `recycled` one every connection (1013); every action from 0.
        actions: Object.fromEntries(metrics.incidentActions),
        // Counts, not addresses: /healthz is public.
        lastIncident: overload.lastIncident &&
          publicIncident(overload.lastIncident),
        leakedUpgrades: metrics.upgradesLeaked,
        // Closes given up that still hold a slot (`unanswered_closes`).
        unansweredCloses: metrics.closesUnanswered,
        suspects: suspects.state(),
      },
    }, registry.shuttingDown || failing || refusingMost ? 503 : 200);
  });
  route.get("/metrics", function prometheus(c) {
    c.header("Cache-Control", "no-store");
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(
      prometheusText(metrics, {
        memory: memory.state(),
        rooms: rooms.state(),
        listener: services.listener,
      }),
    );
  });
  return route;
}

/**
 * The listener's accept and listen failures within
 * {@link LISTENER_FAILURE_WINDOW_MS}: those counted up to the last one, while
 * it is that recent, else 0.
 */
function recentListenerFailures(listener: Readonly<ListenerState>): number {
  const at = listener.lastFailureAt;
  if (at === undefined) return 0;
  const recent = performance.now() - at < LISTENER_FAILURE_WINDOW_MS;
  return recent ? listener.recentFailures ?? 1 : 0;
}

/** Why `/healthz` says `not_accepting`, in a line. */
function notAcceptingReason(
  listener: Readonly<ListenerState>,
  failures: number,
): string {
  const error = listener.lastAcceptError ?? listener.lastListenError;
  const last = error === undefined ? "" : `: ${error}`;
  if (failures === 0) return `the listener is down${last}`;
  return `accepting or listening failed ${failures} ${
    failures === 1 ? "time" : "times"
  } in the last ${LISTENER_FAILURE_WINDOW_MS / 1000} s${last}`;
}
