/**
 * ws-echo: a WebSocket echo service, pywebsocket-compatible, for tutorials,
 * tests and demos. This module assembles the Hono app; it listens only when
 * run directly (`deno task start`).
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler, type Next } from "hono";
import { every } from "hono/combine";
import { cors } from "hono/cors";
import { logger } from "hono/logger";
import { secureHeaders } from "hono/secure-headers";
import {
  type Config,
  ConfigError,
  ENV_NAMES,
  parseConfig,
} from "./lib/config.ts";
import type { Log } from "./lib/connection.ts";
import { applyFdLimit, readOpenFileLimit } from "./lib/fd_limit.ts";
import { Metrics } from "./lib/metrics.ts";
import { ConnectionRegistry } from "./lib/registry.ts";
import type { AppEnv, Services } from "./lib/services.ts";
import { startServer } from "./lib/server.ts";
import { serveStaticFiles } from "./lib/static_files.ts";
import { IdleWatch } from "./lib/idle.ts";
import { IdSource } from "./lib/ids.ts";
import { batchedLog } from "./lib/log.ts";
import { healthRoutes } from "./routes/health.ts";
import { limitsRoute } from "./routes/limits.ts";
import { sseRoute } from "./routes/sse.ts";
import { type WebSocketEndpoint, webSocketRoute } from "./routes/websocket.ts";

/** The WebSocket endpoints, each mounted at `/<name>`. */
const WEBSOCKET_ENDPOINTS: WebSocketEndpoint[] = ["echo", "close", "inspect"];

/** Options for `createApp`; all optional. */
export interface AppOptions {
  /** Where log lines go. @default console.log */
  log?: Log;
  /** Folder served at `/`. @default the `static/` folder beside this file */
  staticRoot?: string;
}

/** The Hono app and the state its routes share. */
export interface EchoApp {
  app: Hono<AppEnv>;
  services: Services;
}

/** The folder served at `/`, resolved next to this module. */
export const STATIC_ROOT: string = `${import.meta.dirname}/static`;

// Hono's logger colours its output; log files want plain text.
// deno-lint-ignore no-control-regex
const ANSI_COLOR = /\x1b\[[0-9;]*m/g;

/**
 * Runs `middleware` except on WebSocket upgrade requests, which skip it after
 * one header lookup (Hono's `except` costs a few awaits per handshake).
 */
function exceptUpgrades(
  middleware: MiddlewareHandler<AppEnv>,
): MiddlewareHandler<AppEnv> {
  return function unlessUpgrade(c: Context<AppEnv>, next: Next) {
    return c.req.raw.headers.has("upgrade") ? next() : middleware(c, next);
  };
}

/** Builds the app from a configuration, without listening. */
export function createApp(config: Config, options: AppOptions = {}): EchoApp {
  const log = options.log ?? ((line: string) => console.log(line));
  const services: Services = {
    config,
    log,
    ids: new IdSource(),
    idle: config.idleTimeoutSeconds > 0
      ? new IdleWatch(config.idleTimeoutSeconds * 1000)
      : undefined,
    metrics: new Metrics(),
    registry: new ConnectionRegistry({
      maxPerIp: config.maxConnectionsPerIp,
      maxTotal: config.maxConnections,
    }),
    staticRoot: options.staticRoot ?? STATIC_ROOT,
  };
  const app = new Hono<AppEnv>();
  app.use(exceptUpgrades(every(
    // One line per request: Hono's logger also prints a line on the way in.
    // WebSocket upgrades get their own lines (refusal or close) from the route.
    logger((line) => {
      if (!line.startsWith("<--")) log(line.replace(ANSI_COLOR, ""));
    }),
    // Security headers are for pages; a 101 response has no content to guard.
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        connectSrc: ["'self'", "ws:", "wss:"],
        imgSrc: ["'self'", "data:"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'none'"],
      },
      referrerPolicy: "no-referrer",
    }),
  )));
  for (const endpoint of WEBSOCKET_ENDPOINTS) {
    app.route(`/${endpoint}`, webSocketRoute(services, endpoint));
  }
  // Pages on other origins may read the limits and open the event stream.
  const readableFrom = cors({ origin: config.allowedOrigins });
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
    serveStaticFiles({ root: services.staticRoot }),
  );
  app.notFound((c) => c.text(`Not found: ${c.req.path}\n`, 404));
  app.onError((error, c) => {
    log(`error ${c.req.method} ${c.req.path}: ${error.stack ?? error}`);
    return c.text("Internal server error\n", 500);
  });
  return { app, services };
}

/** Prints a start-up failure in one line and exits non-zero; rethrows bugs. */
function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError) {
    console.error(`ws-echo: ${error.message}`);
  } else if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    console.error(`ws-echo: Missing permission: ${error.message}`);
  } else if (error instanceof Deno.errors.AddrInUse) {
    console.error(`ws-echo: Cannot listen: ${error.message} (set PORT)`);
  } else {
    throw error;
  }
  Deno.exit(2);
}

if (import.meta.main) {
  try {
    // Only the variables the service reads: `--allow-env` names exactly these.
    const { config, warning } = applyFdLimit(
      parseConfig(
        Object.fromEntries(ENV_NAMES.map((name) => [name, Deno.env.get(name)])),
      ),
      readOpenFileLimit(),
    );
    if (warning) console.error(warning);
    const output = batchedLog();
    const server = startServer(createApp(config, { log: output.log }), {
      onListen: (urls) =>
        console.log(`ws-echo: page ${urls.page}  echo ${urls.echo}`),
    });
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => {
        server.shutdown().then(() => {
          output.flush();
          Deno.exit(0);
        });
      });
    }
  } catch (error) {
    exitOnStartupError(error);
  }
}
