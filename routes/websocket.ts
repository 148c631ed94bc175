/**
 * The WebSocket endpoints: `/echo`, `/close` and `/inspect`. Each checks its
 * query options and the handshake and the limits, then upgrades with
 * `Deno.upgradeWebSocket` and hands the socket to the connection module.
 *
 * @module
 */
import { Hono } from "hono";
import { zValidator } from "@hono/zod-validator";
import { admitClient } from "../lib/admission.ts";
import { clientIp } from "../lib/client_ip.ts";
import { serveEcho } from "../lib/connection.ts";
import {
  describeQueryError,
  type EchoQuery,
  echoQuerySchema,
  PLAIN_ECHO,
  toEchoOptions,
} from "../lib/echo_options.ts";
import { checkHandshake, webSocketUrl } from "../lib/handshake.ts";
import { inspectReport } from "../lib/inspect.ts";
import { refuse } from "../lib/refusals.ts";
import type { AppEnv, Services } from "../lib/services.ts";

const ALLOW = "GET, HEAD";

/** What a plain echo sends before its first echo: nothing (shared, never mutated). */
const NO_PRELUDE: readonly string[] = [];

/**
 * What an endpoint adds to the echo: `close` reads "CODE REASON" commands,
 * `inspect` first sends a report of the handshake.
 */
export type WebSocketEndpoint = "echo" | "close" | "inspect";

/** One WebSocket endpoint, to mount at `/<endpoint>`. */
export function webSocketRoute(
  services: Services,
  endpoint: WebSocketEndpoint,
): Hono<AppEnv> {
  const { config, metrics, log, ids, idle } = services;
  const route = new Hono<AppEnv>();

  const validateQuery = zValidator("query", echoQuerySchema, (result, c) => {
    if (result.success) return;
    metrics.refused("bad_options");
    if (c.req.raw.headers.has("upgrade")) {
      log(`ws refused path=/${endpoint} reason=bad_options status=400`);
    }
    return c.text(describeQueryError(result.error), 400, {
      "Cache-Control": "no-store",
    });
  });
  // Most connections have no query string: they skip the parse.
  const queryOptions: typeof validateQuery = (c, next) =>
    c.req.url.includes("?") ? validateQuery(c, next) : next();

  route.get("/", queryOptions, function upgrade(c) {
    const headers = c.req.raw.headers;
    const checked = checkHandshake(headers, () => {
      const secure = config.trustProxy
        ? headers.get("x-forwarded-proto") === "https" || undefined
        : undefined;
      return webSocketUrl(c.req.url, secure);
    });
    if ("status" in checked) {
      if (checked.status === 400) metrics.refused("bad_handshake");
      if (headers.has("upgrade")) {
        log(
          `ws refused path=/${endpoint} reason=bad_handshake status=${checked.status}`,
        );
      }
      return refuse(checked);
    }
    const peer = c.env?.remoteAddr;
    const ip = clientIp(peer?.hostname, headers, config.trustProxy);
    const lease = admitClient(services, {
      kind: "ws",
      ip,
      origin: headers.get("origin") ?? undefined,
    });
    if (lease instanceof Response) return lease;
    // Browsers abort when they offer subprotocols and none is chosen.
    const protocol = checked.protocols[0];
    // Deno closes the request on upgrade: read its headers first.
    const id = ids.next();
    const hasQuery = c.req.url.includes("?");
    const query: EchoQuery = hasQuery ? c.req.valid("query") : {};
    const echo = hasQuery ? toEchoOptions(query) : PLAIN_ECHO;
    let prelude = NO_PRELUDE;
    if (endpoint === "inspect") {
      prelude = [inspectReport({
        request: c.req.raw,
        ip,
        peer: peer && { hostname: peer.hostname, port: peer.port },
        connection: id,
        instance: ids.instance,
        offeredProtocols: checked.protocols,
        chosenProtocol: protocol,
        options: query,
        config,
      })];
    }
    if (echo.greeting) {
      prelude = [
        ...prelude,
        `Welcome to ws-echo: connection ${id}. Every message you send comes back.`,
      ];
    }
    let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw, {
        ...(protocol ? { protocol } : {}),
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
    serveEcho(upgraded.socket, {
      config,
      metrics,
      lease,
      log,
      ip,
      idle,
      id,
      echo,
      prelude,
      closeCommands: endpoint === "close",
    });
    return upgraded.response;
  });

  route.all(
    "/",
    (c) =>
      c.text(
        `Method ${c.req.method} not allowed: use GET with a WebSocket upgrade\n`,
        405,
        { Allow: ALLOW },
      ),
  );
  return route;
}
