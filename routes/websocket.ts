/**
 * The WebSocket endpoints: `/echo` (also an upgrade on `/`), `/close`,
 * `/inspect` and `/stream`. Each checks the handshake and its query options,
 * admits the client, then upgrades with `Deno.upgradeWebSocket` and hands the
 * socket to the connection module. Every refusal goes through
 * `lib/admission/refuse.ts`.
 *
 * @module
 */
import { Hono } from "hono/quick";
import type { Context } from "hono";
import {
  admitClient,
  type Client,
  previewAdmission,
} from "../lib/admission/admit.ts";
import { clientIp, clientKey } from "../lib/admission/client_ip.ts";
import { serveEcho } from "../lib/connection/echo_connection.ts";
import {
  type EchoQuery,
  parseEchoQuery,
  PLAIN_ECHO,
  toEchoOptions,
  toStreamOptions,
} from "../lib/connection/parse_options.ts";
import { askedRefusal, waitToOpen } from "../lib/admission/failure_controls.ts";
import type { Lease } from "../lib/admission/slots.ts";
import { checkHandshake, webSocketUrl } from "../lib/protocol/handshake.ts";
import { inspectReport } from "../lib/http/inspect_report.ts";
import { refuse } from "../lib/admission/refuse.ts";
import { handshakeRefusal, refusal } from "../lib/refusals.ts";
import type { AppEnv, Services } from "../lib/services.ts";

const ALLOW = "GET, HEAD";

/** What a plain echo sends before its first echo: nothing (shared, never mutated). */
const NO_PRELUDE: readonly string[] = [];

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
  return request.headers.get("upgrade")?.toLowerCase().includes("websocket") ??
    false;
}

/**
 * The upgrade handler of one endpoint: checks, admits, upgrades.
 *
 * @param path Where it is mounted, for the log (`/` upgrades like `/echo`).
 */
export function webSocketUpgrade(
  services: Services,
  endpoint: WebSocketEndpoint,
  path: string,
): UpgradeHandler {
  const { config, ids } = services;
  const queryContext = {
    stream: endpoint === "stream",
    maxMessageBytes: config.maxMessageBytes,
    maxBufferedBytes: config.maxBufferedBytes,
  };
  return function upgrade(request, info) {
    const arrivedAt = Date.now();
    const headers = request.headers;
    const peer = info?.remoteAddr;
    const ip = clientIp(peer?.hostname, headers, config.trustProxy);
    const who: Client = {
      kind: "ws",
      path,
      ip,
      key: clientKey(ip, config.ipv6PrefixLength),
      origin: headers.get("origin") ?? undefined,
    };
    // Most connections have no query string: they skip the parse. A bad
    // option is refused first, so a plain GET of the URL shows why too.
    const hasQuery = request.url.includes("?");
    let query: EchoQuery = {};
    let ignored: string[] = [];
    if (hasQuery) {
      const parsed = parseEchoQuery(
        new URL(request.url).searchParams,
        queryContext,
      );
      if ("status" in parsed) return refuse(services, who, parsed);
      ({ query, ignored } = parsed);
    }
    const checked = checkHandshake(headers);
    if ("reason" in checked) {
      // A plain GET learns first what an upgrade would meet (403, 429, 503).
      const instead = checked.reason === "plain_http"
        ? askedRefusal(query) ?? previewAdmission(services, who)
        : undefined;
      return refuse(
        services,
        who,
        instead ?? handshakeRefusal(checked, () => {
          const secure = config.trustProxy > 0
            ? headers.get("x-forwarded-proto") === "https" || undefined
            : undefined;
          return webSocketUrl(request.url, secure);
        }),
      );
    }
    const offered = checked.protocols;
    // Asked for: answered before admission, as it holds nothing.
    const asked = hasQuery ? askedRefusal(query) : undefined;
    if (asked) return refuse(services, who, asked);
    // Deno reports an unspecified peer once the client has reset the
    // connection; upgrading it anyway leaks a descriptor in Deno 2.9 for
    // good (attack review: 231 of 12,000 reset upgrades under 256).
    if (peer?.hostname === "0.0.0.0" || peer?.hostname === "::") {
      return refuse(services, who, refusal("client_gone"));
    }
    const lease = admitClient(services, who);
    if (lease instanceof Response) return lease;
    const openDelayMs = query.open_delay ?? 0;
    if (openDelayMs > 0) {
      // The slot is held while waiting: a delayed open counts against the caps.
      return waitToOpen(openDelayMs, {
        arrivedAt,
        signal: request.signal,
        stopping: () => services.registry.shuttingDown,
      }).then((end) => {
        if (end === "waited") return open(lease);
        lease.release();
        return refuse(services, who, refusal(end));
      });
    }
    return open(lease);

    function open(lease: Lease): Response {
      try {
        // Browsers abort when they offer subprotocols and none is chosen.
        const protocol = offered[0];
        const id = ids.next();
        const echo = hasQuery ? toEchoOptions(query) : PLAIN_ECHO;
        let prelude = NO_PRELUDE;
        if (endpoint === "inspect") {
          // Deno closes the request on upgrade: read its headers first.
          prelude = [inspectReport({
            request,
            ip,
            ipSource: services.platform.ipSource,
            peer: peer && { hostname: peer.hostname, port: peer.port },
            connection: id,
            instance: ids.instance,
            offeredProtocols: offered,
            chosenProtocol: protocol,
            options: query,
            ignoredOptions: ignored,
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
          upgraded = Deno.upgradeWebSocket(request, {
            ...(protocol ? { protocol } : {}),
            idleTimeout: config.pingIntervalSeconds,
          });
        } catch (error) {
          lease.release();
          return refuse(
            services,
            who,
            refusal("bad_handshake", {
              detail: `Cannot upgrade: ${(error as Error).message}`,
            }),
          );
        }
        serveEcho(upgraded.socket, {
          services,
          lease,
          ip,
          id,
          echo,
          prelude,
          closeCommands: endpoint === "close",
          ...(endpoint === "stream" ? { stream: toStreamOptions(query) } : {}),
        });
        return upgraded.response;
      } catch (error) {
        // A bug must not keep the slot: free it, then let onError answer 500.
        lease.release();
        throw error;
      }
    }
  };
}
