/**
 * Listening and stopping: plain or TLS, start-up URLs, and a graceful
 * shutdown that closes every WebSocket with 1001 within a bounded time.
 *
 * @module
 */
import { CLOSE_SHUTDOWN } from "./close_codes.ts";
import { ConfigError } from "./config.ts";
import type { EchoApp } from "../main.ts";
import { type ListenerState, superviseServe } from "./listener.ts";

/** The URLs a started server answers on. */
export interface ListenUrls {
  page: string;
  echo: string;
}

/** A running server. */
export interface RunningServer {
  /** The bound address (port 0 resolves to the real port). */
  addr: Deno.NetAddr;
  urls: ListenUrls;
  /** Resolves once the HTTP server has stopped. */
  finished: Promise<void>;
  /**
   * Refuses new connections, closes every WebSocket with 1001, waits up to
   * SHUTDOWN_GRACE_SECONDS for them to go, then stops. Safe to call twice.
   */
  shutdown(): Promise<void>;
  /** Whether the server is accepting; it listens again after running out of descriptors. */
  listener: Readonly<ListenerState>;
}

/** Reads a file named by an environment variable, with an error naming it. */
function readNamedFile(name: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read ${name} "${path}": ${(error as Error).message}`,
    );
  }
}

/**
 * Starts listening with the app's configuration.
 *
 * @throws {ConfigError} When a TLS file cannot be read.
 */
export function startServer(
  echoApp: EchoApp,
  options: { onListen?: (urls: ListenUrls) => void } = {},
): RunningServer {
  const { app, services } = echoApp;
  const { config, registry, log } = services;
  const tls = config.tls
    ? {
      cert: readNamedFile("TLS_CERT_FILE", config.tls.certFile),
      key: readNamedFile("TLS_KEY_FILE", config.tls.keyFile),
    }
    : {};
  const server = superviseServe(app.fetch as Deno.ServeHandler<Deno.NetAddr>, {
    serve: { port: config.port, hostname: config.hostname, ...tls },
    log,
  });
  const addr = server.addr;
  const shown = addr.hostname === "0.0.0.0" || addr.hostname === "::"
    ? "localhost"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const secure = config.tls !== undefined;
  const base = `${shown}:${addr.port}`;
  const urls = {
    page: `${secure ? "https" : "http"}://${base}/`,
    echo: `${secure ? "wss" : "ws"}://${base}/echo`,
  };
  options.onListen?.(urls);

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      registry.closeAll(CLOSE_SHUTDOWN);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, config.shutdownGraceSeconds * 1000);
      });
      await Promise.race([registry.whenEmpty(), grace]);
      clearTimeout(timer);
      registry.dispose();
      await server.shutdown();
    })();
    return stopping;
  };
  return {
    addr,
    urls,
    finished: server.finished,
    shutdown,
    listener: server.state,
  };
}
