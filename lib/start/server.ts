/**
 * Listening and stopping: plain or TLS, start-up URLs, and a graceful
 * shutdown that closes every WebSocket with 1001 within a bounded time.
 *
 * @module
 */
import { CLOSE_SHUTDOWN } from "../protocol/close_codes.ts";
import { ConfigError } from "../config.ts";
import { type SupervisedServer, superviseServe } from "./listener.ts";
import { OverloadWatch } from "./overload_watch.ts";
import type { OverloadWatchOptions } from "./overload_watch_options.ts";
import type { Log } from "../log.ts";
import { within } from "./within.ts";
import { SocketBytesReader } from "./socket_bytes.ts";
import { DescriptorReserve, SS_DESCRIPTORS } from "./descriptor_reserve.ts";
import { SsSocketAbort } from "./socket_abort.ts";
import { HeldSockets } from "../connection/held_sockets.ts";
import { KernelCountCheck } from "./kernel_count_check.ts";
import { AckWatch } from "./ack_watch.ts";
import { DescriptorSweep } from "./descriptor_sweep.ts";
import type { EchoApp, Services } from "../services.ts";

/**
 * How long a shutdown waits for Deno's server to stop once the connections
 * are drained, in ms. Deno's `shutdown()` cancels what is left and ends
 * within milliseconds when it ends at all; this only bounds the case where
 * it never does.
 */
export const SERVER_STOP_MS = 1000;

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
   * The descriptors held for `ss` (`descriptor_reserve.ts`), lent to
   * `prlimit` too (`learned_cap.ts`); undefined without `reserve`.
   */
  reserve: DescriptorReserve | undefined;
  /**
   * Refuses new connections, closes every WebSocket with 1001, waits up to
   * SHUTDOWN_GRACE_SECONDS for them to go, then stops Deno's server, waiting
   * for that at most {@link SERVER_STOP_MS}. Safe to call twice.
   *
   * @returns True when Deno's server stopped; false when a connection still
   * holds it (an upgrade the client reset never ends in Deno 2.9, measured),
   * so only `Deno.exit` ends the process.
   */
  shutdown(): Promise<boolean>;
}

/**
 * Reads a file named by an environment variable, with an error naming it;
 * an empty file is one too (Deno's own error for it names neither variable
 * and blames the address).
 */
function readNamedFile(name: string, path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read ${name} "${path}": ${(error as Error).message}`,
    );
  }
  if (text.trim() === "") {
    throw new ConfigError(`Cannot use ${name} "${path}": the file is empty`);
  }
  return text;
}

/** Thrown when the server cannot listen: address in use, unknown, not local. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

/**
 * Listens on `bindAddress`, or when it is unset on `::`, which takes IPv6
 * and IPv4 clients alike where the OS allows, and else on `0.0.0.0`. The
 * listener survives running out of descriptors (`listener.ts`).
 */
function listen(
  bindAddress: string | undefined,
  port: number,
  tls: { cert: string; key: string } | undefined,
  fetch: EchoApp["fetch"],
  log: Log,
  onDescriptorsShort: () => void,
): SupervisedServer {
  const serve = (hostname: string) =>
    superviseServe(fetch as Deno.ServeHandler<Deno.NetAddr>, {
      serve: { port, hostname, ...tls },
      log,
      onDescriptorsShort,
    });
  try {
    if (bindAddress !== undefined) return serve(bindAddress);
    try {
      return serve("::");
    } catch (error) {
      // No IPv6 on this machine (or in this container): IPv4 alone.
      if (error instanceof Deno.errors.AddrInUse) throw error;
      return serve("0.0.0.0");
    }
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) throw error;
    // Deno parses the PEM text only when it listens: text that holds no
    // certificate or no key, or a key of another certificate.
    if (tls !== undefined && error instanceof Deno.errors.InvalidData) {
      throw new ConfigError(
        `Cannot use TLS_CERT_FILE and TLS_KEY_FILE: ${
          (error as Error).message
        } (expected a PEM certificate and its PEM private key)`,
      );
    }
    const where = `${bindAddress ?? "::"} port ${port}`;
    throw new ListenError(
      `Cannot listen on ${where}: ${
        (error as Error).message
      } (set BIND_ADDRESS or PORT)`,
    );
  }
}

/**
 * Starts listening with the app's configuration.
 *
 * @throws {ConfigError} When a TLS file cannot be read, or holds no
 * certificate or key Deno can use.
 * @throws {ListenError} When the address or port cannot be listened on.
 */
export function startServer(
  echoApp: EchoApp,
  options: {
    onListen?: (urls: ListenUrls) => void;
    /** How the overload watch ends the process. @default Deno.exit */
    exit?: OverloadWatchOptions["exit"];
    /**
     * Whether the overload watch runs. Off only for a test of the memory
     * guard alone: at MAX_RSS_BYTES=1 any RSS growth is uncounted memory to
     * the watch, which recycles the listener (1013) mid-test.
     * @default true
     */
    overloadWatch?: boolean;
    /**
     * Whether the watch may start its RSS watchdog thread, which ends the
     * process (`rss_watchdog.ts`): only in the service's own process, never
     * in a test runner hosting a server. @default false
     */
    watchdog?: boolean;
    /**
     * Whether to hold descriptors for `ss` (`descriptor_reserve.ts`), so
     * the watch still reads and aborts when the process is out of them:
     * only in the service's own process. @default false
     */
    reserve?: boolean;
    /**
     * Whether to run the periodic kernel-count check, which closes a
     * message past MAX_MESSAGE_BYTES still arriving (`kernel_count_check.ts`):
     * only in the service's own process, not in a test runner hosting
     * servers (an `ss` every 2 s while a connection is open). @default false
     */
    kernelCheck?: boolean;
  } = {},
): RunningServer {
  const { fetch, services } = echoApp;
  const { config } = services;
  const tls = config.tlsCertFile && config.tlsKeyFile
    ? {
      cert: readNamedFile("TLS_CERT_FILE", config.tlsCertFile),
      key: readNamedFile("TLS_KEY_FILE", config.tlsKeyFile),
    }
    : undefined;
  const server = listen(
    config.bindAddress,
    config.port,
    tls,
    fetch,
    services.log,
    // Made below, once the port is known; nothing fails before.
    () => sweep.short(),
  );
  services.listener = server.state;
  const reserve = options.reserve
    ? new DescriptorReserve(SS_DESCRIPTORS)
    : undefined;
  // A recycle listens again on the same port.
  const socketAbort = new SsSocketAbort(server.addr.port, { reserve });
  // This process owns the listener: every connection of the port is its own.
  const sweep = new DescriptorSweep(services.registry, {
    port: server.addr.port,
    reserve,
    abort: socketAbort,
    portOwned: true,
    pingIntervalMs: config.pingIntervalSeconds * 1000,
    log: services.log,
  });
  services.held = new HeldSockets(
    socketAbort,
    (report) => services.log({ event: "sockets_aborted", ...report }),
  );
  // The kernel's word on who reads, while the memory guard is pressed.
  const ackWatch = new AckWatch({
    memory: services.memory,
    openConnections: () => services.registry.openCount,
    source: new SocketBytesReader(server.addr.port, { reserve }),
    log: services.log,
  });
  services.acks = ackWatch.book;
  // The listener is the app's own here: the watch may recycle it.
  const watch = options.overloadWatch === false
    ? undefined
    : new OverloadWatch(services, {
      recycle: (between, limitMs) => server.recycle(between, limitMs),
      // A recycle listens again on the same port.
      socketBytes: new SocketBytesReader(server.addr.port, { reserve }),
      socketAbort,
      ...(options.exit ? { exit: options.exit } : {}),
      watchdog: options.watchdog === true,
      port: server.addr.port,
      // Before a planned exit (leaked descriptors): the SIGTERM path.
      drain: () => shutdown(),
    });
  // A recycle listens again on the same port.
  const kernelCheck = options.kernelCheck
    ? new KernelCountCheck(services, {
      socketBytes: new SocketBytesReader(server.addr.port, { reserve }),
      socketAbort,
      acks: ackWatch.book,
    })
    : undefined;
  const addr = server.addr;
  const urls = listenUrls(addr, tls !== undefined);
  options.onListen?.(urls);

  let stopping: Promise<boolean> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      watch?.dispose();
      await kernelCheck?.dispose();
      ackWatch.dispose();
      await drainConnections(services);
      // Every WebSocket and stream is gone or past its grace: Deno's
      // shutdown then ends at once, unless a connection whose upgrade was
      // cut off by a reset holds it, which never ends (measured).
      const stopped = await within(server.shutdown(), SERVER_STOP_MS);
      reserve?.release();
      return stopped;
    })();
    return stopping;
  };
  return { addr, urls, finished: server.finished, reserve, shutdown };
}

/**
 * The page and echo URLs of a listening address, as people type them:
 * `localhost` for every interface, IPv6 in brackets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenUrls } from "./server.ts";
 * const urls = listenUrls({ transport: "tcp", hostname: "::", port: 9998 }, false);
 * assert.deepEqual(urls, {
 *   page: "http://localhost:9998/",
 *   echo: "ws://localhost:9998/echo",
 * });
 * ```
 */
export function listenUrls(addr: Deno.NetAddr, secure: boolean): ListenUrls {
  const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
    ? "localhost"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const base = `${host}:${addr.port}`;
  return {
    page: `${secure ? "https" : "http"}://${base}/`,
    echo: `${secure ? "wss" : "ws"}://${base}/echo`,
  };
}

/**
 * The first half of a graceful stop, for both entry points: refuses new
 * upgrades, closes every WebSocket with 1001, waits up to
 * SHUTDOWN_GRACE_SECONDS for them to go, then stops the held-slot timers,
 * the connection sweep, the aborts of held sockets, the memory guard, the
 * suspect list's channel to other workers and the rooms' bridge, and logs the refusals counted since their last line.
 *
 * @returns True when every connection went within the grace.
 */
export async function drainConnections(
  services: Pick<
    Services,
    | "config"
    | "registry"
    | "memory"
    | "rooms"
    | "sweep"
    | "refusalLog"
    | "held"
    | "suspects"
  >,
): Promise<boolean> {
  const { config, registry, memory, rooms, sweep, refusalLog, held } = services;
  services.suspects.dispose();
  registry.closeAll(CLOSE_SHUTDOWN);
  const emptied = await within(
    registry.whenEmpty(),
    config.shutdownGraceSeconds * 1000,
  );
  registry.dispose();
  sweep.dispose();
  await held?.dispose();
  memory.dispose();
  refusalLog.dispose();
  await rooms.dispose();
  return emptied;
}
