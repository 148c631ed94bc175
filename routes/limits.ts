/**
 * `GET /limits`: the active limits, their defaults and the query options, as
 * JSON, so clients can read them instead of discovering them by being closed.
 *
 * @module
 */
import { Hono } from "hono/quick";
import { ECHO_OPTION_HELP } from "../lib/connection/option_schema.ts";
import { describeLimits } from "../lib/http/limits_report.ts";
import type { AppEnv, Services } from "../lib/services.ts";

/** The limits endpoint, mounted at `/limits`. */
export function limitsRoute(services: Services): Hono<AppEnv> {
  const route = new Hono<AppEnv>();
  route.get("/", function limits(c) {
    c.header("Cache-Control", "no-cache");
    // Built per request: the cap in force changes once `prlimit` answers
    // (`learned_cap.ts`), and a body built on the first request kept
    // MAX_CONNECTIONS as set for good (review stop35 F-A).
    return c.json({
      limits: describeLimits(services.config),
      queryOptions: ECHO_OPTION_HELP,
      // Public anyway (CORS answers with them); a page uses it to explain a 403.
      allowedOrigins: services.config.allowedOrigins,
    });
  });
  return route;
}
