/**
 * The WebSocket endpoints: `/echo` (also an upgrade on `/`), `/close`,
 * `/inspect` and `/stream`. The route is the runtime glue only:
 * `decideUpgrade` (`lib/connection/upgrade.ts`) runs every check once and
 * admits or refuses; an admitted request waits out its `open_delay=`, is
 * upgraded and handed to the connection module
 * (`lib/connection/upgrade_socket.ts`); a refused one is answered by
 * `lib/admission/refuse.ts`.
 *
 * @module
 */
import { Hono } from "hono/quick";
import type { Context } from "hono";
import { waitToOpen } from "../lib/admission/failure_controls.ts";
import { describeIpSourceUsed } from "../lib/admission/client_ip.ts";
import { refuse } from "../lib/admission/refuse.ts";
import {
  decideUpgrade,
  type UpgradeEndpoint,
} from "../lib/connection/upgrade.ts";
import { upgradeAndServe } from "../lib/connection/upgrade_socket.ts";
import { inspectReport } from "../lib/http/inspect_report.ts";
import { refusal } from "../lib/refusals.ts";
import type { AppEnv, Services } from "../lib/services.ts";

const ALLOW = "GET, HEAD";

/**
 * What an endpoint adds to the echo: `close` reads "CODE REASON" commands,
 * `inspect` first sends a report of the handshake, `stream` sends messages
 * of its own.
 */
export type WebSocketEndpoint = "echo" | "close" | "inspect" | "stream";

/**
 * Answers a GET of a WebSocket endpoint: the 101 of an upgrade, or a
 * refusal. Plain of Hono, so `routes/app.ts` can call it before routing.
 */
export type UpgradeHandler = (
  request: Request,
  info: AppEnv["Bindings"] | undefined,
) => Response | Promise<Response>;

/**
 * Answers `routes/app.ts` decided before routing (a refusal, or the error
 * the handler threw), for Hono to finish like any other: the security
 * headers and the log line, or `onError`'s 500.
 */
export type DecidedAnswers = WeakMap<Request, () => Response>;

/**
 * The Hono handler of an upgrade: the answer decided before routing, if
 * any, else the upgrade itself.
 */
export function upgradeRoute(
  upgrade: UpgradeHandler,
  decided: DecidedAnswers,
): (c: Context<AppEnv>) => Response | Promise<Response> {
  return function upgradeInHono(c) {
    const answer = decided.get(c.req.raw);
    return answer ? answer() : upgrade(c.req.raw, c.env);
  };
}

/** One WebSocket endpoint, to mount at `/<endpoint>`. */
export function webSocketRoute(
  upgrade: UpgradeHandler,
  decided: DecidedAnswers = new WeakMap(),
): Hono<AppEnv> {
  const route = new Hono<AppEnv>();
  route.get("/", upgradeRoute(upgrade, decided));
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

/**
 * True when a request asks for a WebSocket upgrade: `/` upgrades those and
 * serves the page to the rest.
 */
export function asksForWebSocket(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  // What browsers and most clients send, without a lowercase copy.
  if (upgrade === "websocket") return true;
  return upgrade?.toLowerCase().includes("websocket") ?? false;
}

/**
 * The upgrade handler of one endpoint: decides, then upgrades or refuses.
 *
 * @param path Where it is mounted, for the log (`/` upgrades like `/echo`).
 */
export function webSocketUpgrade(
  services: Services,
  endpoint: WebSocketEndpoint,
  path: string,
): UpgradeHandler {
  const described = describeEndpoint(services, endpoint, path);
  return function upgrade(request, info) {
    const arrivedAt = Date.now();
    const decision = decideUpgrade(services, {
      endpoint: described,
      request,
      peer: info?.remoteAddr,
    });
    if ("refusal" in decision) {
      return refuse(services, decision.client, decision.refusal);
    }
    if (decision.openDelayMs === 0) {
      return upgradeAndServe(services, request, decision);
    }
    // The slot is held while waiting: a delayed open counts against the caps.
    return waitToOpen(decision.openDelayMs, {
      arrivedAt,
      signal: request.signal,
      stopping: () => services.registry.shuttingDown,
    }).then((end) => {
      if (end === "waited") return upgradeAndServe(services, request, decision);
      decision.lease.release();
      return refuse(services, decision.client, refusal(end));
    });
  };
}

/** The hooks each endpoint adds to the upgrade decision. */
function describeEndpoint(
  services: Services,
  endpoint: WebSocketEndpoint,
  path: string,
): UpgradeEndpoint {
  if (endpoint === "close") return { path, closeCommands: true };
  if (endpoint === "stream") return { path, stream: true };
  if (endpoint === "echo") return { path };
  const { config, ids, platform } = services;
  return {
    path,
    // Deno closes the request on upgrade: its headers are read before.
    prelude: (facts, id) => [inspectReport({
      request: facts.request,
      ip: facts.client.ip,
      ipSource: describeIpSourceUsed(facts.request.headers, {
        trustedProxies: config.trustProxy,
        denoDeploy: platform.denoDeploy,
      }),
      peer: facts.peer &&
        { hostname: facts.peer.hostname, port: facts.peer.port },
      connection: id,
      instance: ids.instance,
      offeredProtocols: facts.offeredProtocols,
      chosenProtocol: facts.protocol,
      options: facts.query,
      ignoredOptions: facts.ignored,
      config,
    })],
  };
}
