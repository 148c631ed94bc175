/**
 * Assembles the service: the shared state, the routes, what every response
 * gets (`every_response.ts`), and the checks a plain request meets before
 * routing (its address's request rate, its `Host`). Builds nothing that
 * listens; `server.ts` does that, and `main.ts` starts it.
 *
 * @module
 */
import type { Hono } from "hono";
import { cors } from "hono/cors";
// LinearRouter: no matcher to build on the first request (RegExpRouter's
// costs ~3 ms of cold start), and a dozen routes are matched as fast.
import { Hono as QuickHono } from "hono/quick";
import {
  clientIp,
  clientKey,
  NETWORK_SHARE,
  networkKey,
} from "../lib/admission/client_ip.ts";
import { refuse } from "../lib/admission/refuse.ts";
import { RefusalLog } from "../lib/admission/refusal_log.ts";
import { RequestRate } from "../lib/admission/request_rate.ts";
import { refusal } from "../lib/refusals.ts";
import type { Config } from "../lib/config.ts";
import { ConnectionSweep } from "../lib/connection/sweep.ts";
import { FRAME_COST_BYTES, heldReadBytes } from "../lib/connection/backlog.ts";
import { IdSource } from "../lib/ids.ts";
import { MemoryGuard } from "../lib/admission/memory_guard.ts";
import { Metrics } from "../lib/metrics.ts";
import { ConnectionRegistry } from "../lib/admission/slots.ts";
import { RoomRegistry } from "../lib/rooms/registry.ts";
import {
  type AppEnv,
  type AppOptions,
  type EchoApp,
  idleOverloadState,
  type Services,
} from "../lib/services.ts";
import { badHost } from "../lib/http/host.ts";
import { SuspectList } from "../lib/admission/suspects.ts";
import { serveStaticFiles } from "../lib/http/static_files.ts";
import { isServedScheme, requestLineAnswer } from "../lib/http/request_line.ts";
import {
  everyResponse,
  headAsGet,
  notFoundOrNotAllowed,
} from "./every_response.ts";
import { healthRoutes } from "./health.ts";
import { limitsRoute } from "./limits.ts";
import { roomRoute } from "./room.ts";
import { sseRoute } from "./sse.ts";
import {
  asksForWebSocket,
  type DecidedAnswers,
  type UpgradeHandler,
  upgradeRoute,
  type WebSocketEndpoint,
  webSocketRoute,
  webSocketUpgrade,
} from "./websocket.ts";

export type { AppOptions, EchoApp };

/** The WebSocket endpoints, each mounted at `/<name>`. */
export const WEBSOCKET_ENDPOINTS: readonly WebSocketEndpoint[] = [
  "echo",
  "close",
  "inspect",
  "stream",
];

/** The folder served at `/` (a path, as Hono's serveStatic wants one). */
export const STATIC_ROOT: string = decodeURIComponent(
  new URL("../static", import.meta.url).pathname,
);

/**
 * Builds the app from a configuration, without listening.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createApp } from "./app.ts";
 * import { DEFAULT_CONFIG } from "../lib/config.ts";
 * const { fetch, services } = createApp(DEFAULT_CONFIG, { log: () => {} });
 * const response = await fetch(new Request("http://localhost/healthz"));
 * assert.equal(response.status, 200);
 * assert.equal((await response.json()).status, "ok");
 * services.memory.dispose();
 * ```
 */
export function createApp(config: Config, options: AppOptions = {}): EchoApp {
  const log = options.log ?? ((record) => console.log(JSON.stringify(record)));
  const denoDeploy = options.platform?.denoDeploy ?? false;
  const services: Services = {
    config,
    platform: { denoDeploy },
    log,
    refusalLog: new RefusalLog(log),
    ids: new IdSource(),
    sweep: new ConnectionSweep(config.idleTimeoutSeconds * 1000),
    metrics: new Metrics(),
    memory: new MemoryGuard({
      budgetBytes: config.memoryBudgetBytes,
      maxRssBytes: config.maxRssBytes,
      freshBytes: heldReadBytes(config.maxMessageBytes),
      ...(options.memoryPeers ? { peers: options.memoryPeers } : {}),
      ...(options.workers ? { workers: options.workers } : {}),
    }),
    registry: new ConnectionRegistry({
      maxPerIp: config.maxConnectionsPerIp,
      maxTotal: config.maxConnections,
      clientMessageRate: {
        perSecond: config.rateLimitIpMessagesPerSecond,
        burst: config.rateLimitIpMessageBurst,
      },
      // `/stream` sends an address no faster than a connection may send,
      // and all of them together four times that, each frame at its cost.
      clientStreamBytes: {
        perSecond: config.rateLimitBytesPerSecond,
        burst: config.rateLimitByteBurst,
        frameBytes: FRAME_COST_BYTES,
      },
    }),
    rooms: new RoomRegistry({
      maxRooms: config.maxRooms,
      maxMembers: config.roomMaxMembers,
    }),
    listener: {
      accepting: true,
      acceptFailures: 0,
      listenFailures: 0,
      recycles: 0,
    },
    suspects: new SuspectList({
      ...(options.suspectPeers ? { peers: options.suspectPeers } : {}),
      // A connection's address is its client's but behind a proxy.
      keyOf: (address) =>
        config.trustProxy === 0
          ? clientKey(address, config.ipv6PrefixLength)
          : undefined,
    }),
    overload: idleOverloadState(),
    turns: { sampleDueAt: Infinity, heldSeenAt: -Infinity },
    payloadSeen: { tell: undefined },
  };
  // Upgrades answered before routing but not with a 101, for Hono to finish.
  const decided: DecidedAnswers = new WeakMap();
  const upgrades = new Map<string, UpgradeHandler>();
  for (const endpoint of WEBSOCKET_ENDPOINTS) {
    upgrades.set(
      `/${endpoint}`,
      webSocketUpgrade(services, endpoint, `/${endpoint}`),
    );
  }
  // The bare URL echoes too, as echo.websocket.org did: an upgrade on `/` is
  // `/echo`'s, any other GET (and HEAD) gets the page.
  const upgradeOnRoot = webSocketUpgrade(services, "echo", "/");
  // Assembled on the first request that is not a 101: an echo never needs
  // Hono, and building its routes, middleware and CSP cost about a tenth of
  // the CPU to the first echo (BENCHMARKS.md, issue #23).
  let assembled: Hono<AppEnv> | undefined;
  const hono = () =>
    assembled ??= assemble(services, { upgrades, upgradeOnRoot, decided });
  /** Lets Hono finish an upgrade answered before routing. */
  const viaHono = (
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    answer: () => Response,
  ) => {
    decided.set(request, answer);
    return Promise.resolve(hono().fetch(request, info));
  };
  const metrics = services.metrics;
  const requestRate = {
    address: new RequestRate({
      ratePerSecond: config.rateLimitIpRequestsPerSecond,
      burst: config.rateLimitIpRequestBurst,
    }),
    network: new RequestRate({
      ratePerSecond: NETWORK_SHARE * config.rateLimitIpRequestsPerSecond,
      burst: NETWORK_SHARE * config.rateLimitIpRequestBurst,
    }),
  };
  const fetch = (request: Request, info?: Deno.ServeHandlerInfo) => {
    // Every request counts as it arrives, upgrades included: without the
    // kernel's count a ramp of new connections is work, not a flood, to the
    // overload watch. Counted after the answer (in Hono's middleware, which a
    // 101 skips), a burst of 1,280 upgrades counted none and the watch took
    // the held loop for a flood (`deno run -A bench/burst_bystander.ts
    // --busy`, issue #20).
    metrics.httpRequests++;
    let upgrade: UpgradeHandler | undefined;
    const asksUpgrade = request.method === "GET" && asksForWebSocket(request);
    // Another scheme (`GET ftp://host/echo`) is Hono's to refuse (400).
    if (request.method === "GET" && isServedScheme(request.url)) {
      const path = pathOf(request.url);
      upgrade = path === "/"
        ? (asksUpgrade ? upgradeOnRoot : undefined)
        : upgrades.get(path);
    }
    // Only an upgrade escapes the request rate: a plain GET of /echo (its
    // 426) is a plain request too (an attack review: 43,555 of them in 10 s
    // from one address, none refused).
    if (!asksUpgrade) {
      const tooFast = plainRequestRefused(services, requestRate, request, info);
      if (tooFast) return Promise.resolve(tooFast);
    }
    const hostProblem = badHost(request.headers.get("host"), {
      upgrade: asksUpgrade,
    });
    if (hostProblem !== undefined) {
      return Promise.resolve(
        hostRefused(services, request, info, hostProblem),
      );
    }
    if (upgrade === undefined) {
      // Where the kernel's count is read, only these count as flow: an
      // upgrade brings no message (`overload_sample.ts`).
      if (!asksUpgrade) metrics.plainRequests++;
      return Promise.resolve(hono().fetch(headAsGet(request), info));
    }
    // The upgrade path skips Hono: its context, middleware and router cost
    // CPU per handshake and compile time before the first echo
    // (BENCHMARKS.md). A 101 would pass through Hono unchanged anyway.
    const finish = (response: Response) =>
      response.status === 101
        ? Promise.resolve(response)
        : viaHono(request, info, () => response);
    const fail = (error: unknown) =>
      viaHono(request, info, () => {
        throw error;
      });
    try {
      const answer = upgrade(request, info as AppEnv["Bindings"] | undefined);
      return answer instanceof Promise
        ? answer.then(finish, fail)
        : finish(answer);
    } catch (error) {
      return fail(error);
    }
  };
  return {
    get app() {
      return hono();
    },
    fetch,
    services,
  };
}

/**
 * The Hono app: every answer but a 101 goes through it, for its routes,
 * security headers and log line.
 */
function assemble(
  services: Services,
  ws: {
    upgrades: ReadonlyMap<string, UpgradeHandler>;
    upgradeOnRoot: UpgradeHandler;
    decided: DecidedAnswers;
  },
): Hono<AppEnv> {
  const { config, log } = services;
  const { decided } = ws;
  const app: Hono<AppEnv> = new QuickHono<AppEnv>();
  app.use(everyResponse(log, config));
  app.use(async function requestLine(c, next) {
    const answer = requestLineAnswer(c.req.method, c.req.url);
    if (answer === undefined) return await next();
    return answer.status === 204
      ? c.body(null, 204, answer.headers)
      : c.text(answer.body, answer.status, answer.headers);
  });
  for (const [path, upgrade] of ws.upgrades) {
    app.route(path, webSocketRoute(upgrade, decided));
  }
  const onRoot = upgradeRoute(ws.upgradeOnRoot, decided);
  app.get("/", function echoOnRoot(c, next) {
    return asksForWebSocket(c.req.raw) ? onRoot(c) : next();
  });
  app.route("/room", roomRoute(services));
  // Pages on other origins may read the limits and open the event stream.
  const readableFrom = cors({
    origin: config.allowedOrigins,
    allowMethods: ["GET", "HEAD"],
  });
  app.use("/limits", readableFrom);
  app.use("/sse", readableFrom);
  app.route("/limits", limitsRoute(services));
  app.route("/sse", sseRoute(services));
  app.route("/", healthRoutes(services));
  app.use(
    "/*",
    async function cacheStatic(c, next) {
      await next();
      if (c.res.ok) c.header("Cache-Control", "public, max-age=300");
    },
    serveStaticFiles({
      root: STATIC_ROOT,
      unavailable: (c) =>
        refuse(
          services,
          {
            kind: "http",
            path: c.req.path,
            ip: requestIp(config, c.req.raw, c.env as Deno.ServeHandlerInfo),
            routed: true,
          },
          refusal("files_unavailable"),
        ),
    }),
  );
  app.notFound(notFoundOrNotAllowed(app));
  app.onError((error, c) => {
    log({
      event: "error",
      method: c.req.method,
      path: c.req.path,
      message: String(error.stack ?? error),
    });
    return c.text("Internal server error\n", 500);
  });
  return app;
}

/**
 * The `429` for a plain request past its address's rate
 * (RATE_LIMIT_IP_REQUESTS_PER_SECOND), or past its network's
 * ({@link NETWORK_SHARE} times it, `networkKey`), through the one refusal
 * path; undefined when it may go ahead. The address is counted first, so
 * what one address is refused does not spend its neighbours' share.
 * Upgrades are not counted here: the connection caps and the suspect list
 * admit them.
 */
function plainRequestRefused(
  services: Services,
  requestRate: { address: RequestRate; network: RequestRate },
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
): Response | undefined {
  const { config } = services;
  if (config.rateLimitIpRequestsPerSecond === 0) return undefined;
  const ip = requestIp(config, request, info);
  const now = Date.now();
  let key = clientKey(ip, config.ipv6PrefixLength);
  let network = 0;
  let seconds = requestRate.address.take(key, now);
  if (seconds === 0) {
    key = networkKey(ip, config.ipv6PrefixLength);
    network = NETWORK_SHARE;
    seconds = requestRate.network.take(key, now);
  }
  if (seconds === 0) return undefined;
  const refused = refusal("request_rate", {
    client: key,
    perSecond: (network || 1) * config.rateLimitIpRequestsPerSecond,
    network,
  });
  refused.headers["Retry-After"] = String(seconds);
  return refuse(
    services,
    { kind: "http", path: pathOf(request.url), ip },
    refused,
  );
}

/**
 * The 400 for a `Host` that is no host (`lib/http/host.ts`): answered before
 * routing, since Deno built the URL the router reads from that `Host`.
 */
function hostRefused(
  services: Services,
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
  detail: string,
): Response {
  return refuse(
    services,
    {
      kind: "http",
      path: pathOf(request.url),
      ip: requestIp(services.config, request, info),
    },
    refusal("bad_host", { detail }),
  );
}

/** The client's address of a plain request (`clientIp`, TRUST_PROXY). */
function requestIp(
  config: Config,
  request: Request,
  info: Deno.ServeHandlerInfo | undefined,
): string {
  const peer = (info?.remoteAddr as Deno.NetAddr | undefined)?.hostname;
  return clientIp(peer, request.headers, config.trustProxy);
}

/** The path of an absolute URL, without its query: `http://h/echo?x` -> `/echo`. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.indexOf("?", start);
  return end < 0 ? url.slice(start) : url.slice(start, end);
}
