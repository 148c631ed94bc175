/**
 * `GET /healthz` (JSON for load balancers and people) and `GET /metrics`
 * (Prometheus), both read from the same counters.
 *
 * @module
 */
import { Hono } from "hono";
import type { AppEnv, Services } from "../lib/services.ts";

/** Health and metrics endpoints. */
export function healthRoutes(services: Services): Hono<AppEnv> {
  const { metrics, registry } = services;
  const route = new Hono<AppEnv>();
  route.get("/healthz", function healthz(c) {
    c.header("Cache-Control", "no-store");
    return c.json({
      status: registry.shuttingDown ? "shutting_down" : "ok",
      connections: metrics.connectionsOpen,
      uptimeSeconds: Math.floor(metrics.uptimeSeconds()),
    }, registry.shuttingDown ? 503 : 200);
  });
  route.get("/metrics", function prometheus(c) {
    c.header("Cache-Control", "no-store");
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(metrics.toPrometheus());
  });
  return route;
}
