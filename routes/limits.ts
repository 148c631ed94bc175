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
  const body = {
    limits: describeLimits(services.config),
    queryOptions: ECHO_OPTION_HELP,
    // Public anyway (CORS answers with them); a page uses it to explain a 403.
    allowedOrigins: services.config.allowedOrigins,
  };
  route.get("/", function limits(c) {
    c.header("Cache-Control", "no-cache");
    return c.json(body);
  });
  return route;
}
