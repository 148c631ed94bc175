/**
 * `GET /echo`: checks the handshake and the limits, then upgrades with
 * `Deno.upgradeWebSocket` and hands the socket to the connection module.
 *
 * @module
 */
import { Hono } from "hono";
import { clientIp } from "../lib/client_ip.ts";
import { serveEcho } from "../lib/connection.ts";
import {
  checkHandshake,
  type Refusal,
  webSocketUrl,
} from "../lib/handshake.ts";
import type { AppEnv, Services } from "../lib/services.ts";

const ALLOW = "GET, HEAD";

/** True when a browser's `Origin` may connect (non-browser clients send none). */
export function originAllowed(
  origin: string | undefined,
  allowed: "*" | string[],
): boolean {
  return allowed === "*" || origin === undefined || allowed.includes(origin);
}

function refuse(refusal: Refusal): Response {
  return new Response(refusal.body, {
    status: refusal.status,
    headers: {
      ...refusal.headers,
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-store",
    },
  });
}

/** The echo endpoint, mounted at `/echo`. */
export function echoRoute(services: Services): Hono<AppEnv> {
  const { config, metrics, registry, log } = services;
  const route = new Hono<AppEnv>();

  route.get("/", function echo(c) {
    const headers = c.req.raw.headers;
    const secure = config.trustProxy
      ? headers.get("x-forwarded-proto") === "https" || undefined
      : undefined;
    const checked = checkHandshake(headers, webSocketUrl(c.req.url, secure));
    if ("status" in checked) {
      if (checked.status === 400) metrics.refused("bad_handshake");
      return refuse(checked);
    }
    const ip = clientIp(
      c.env?.remoteAddr?.hostname,
      headers,
      config.trustProxy,
    );
    const origin = headers.get("origin") ?? undefined;
    if (!originAllowed(origin, config.allowedOrigins)) {
      metrics.refused("origin");
      log(`ws refused ip=${ip} reason=origin origin=${JSON.stringify(origin)}`);
      return refuse({
        status: 403,
        headers: {},
        body: `Origin "${origin}" is not allowed to connect to this server\n`,
      });
    }
    const lease = registry.admit(ip);
    if (typeof lease === "string") {
      metrics.refused(lease);
      log(`ws refused ip=${ip} reason=${lease}`);
      if (lease === "per_ip") {
        return refuse({
          status: 429,
          headers: { "Retry-After": "10" },
          body:
            `Too many connections from ${ip}: at most ${config.maxConnectionsPerIp} at once. Close one and retry\n`,
        });
      }
      return refuse({
        status: 503,
        headers: { "Retry-After": "10" },
        body: lease === "total"
          ? `Server full: ${config.maxConnections} connections open. Retry later\n`
          : "Server shutting down. Retry later\n",
      });
    }
    let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw, {
        // Browsers abort when they offer subprotocols and none is chosen.
        ...(checked.protocols[0] ? { protocol: checked.protocols[0] } : {}),
        idleTimeout: config.pingIntervalSeconds,
      });
    } catch (error) {
      lease.release();
      metrics.refused("bad_handshake");
      return refuse({
        status: 400,
        headers: {},
        body: `Cannot upgrade: ${(error as Error).message}\n`,
      });
    }
    serveEcho(upgraded.socket, { config, metrics, lease, log, ip });
    return upgraded.response;
  });

  route.all(
    "/",
    (c) =>
      c.text(
        `Method ${c.req.method} not allowed: use GET with a WebSocket upgrade\n`,
        405,
        {
          Allow: ALLOW,
        },
      ),
  );
  return route;
}
