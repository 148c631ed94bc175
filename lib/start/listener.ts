/**
 * Keeps `Deno.serve` accepting after descriptors run out. When `accept()`
 * fails with EMFILE or ENFILE, Deno 2.9 ends its accept loop, closes the
 * listening socket and rejects `server.finished` with `Deno.errors.Http`;
 * unhandled, that rejection ends the process. Connections already accepted
 * keep working. So this module handles the rejection, and listens again on
 * the same port 100 ms later, as often as it fails: a longer wait grows the
 * crowd that meets the next listener (clients refused meanwhile all retry),
 * which runs it out again at once (an attack review's 250 honest and 60
 * non-reading clients under `prlimit --nofile=256`: waits doubled to 5 s
 * and `/healthz` went unanswered for 8-16 s, `bench/attacks/refused.sh`).
 * What it logs is bounded instead: one line per `logIntervalMs`.
 *
 * @module
 */
import { RefusalClosed } from "../admission/refuse.ts";
import type { Log } from "../log.ts";
import { LISTENER_FAILURE_WINDOW_MS, type ListenerState } from "../services.ts";
import { isDescriptorExhaustion } from "../os_errors.ts";

/** Options for `superviseServe`. */
export interface SupervisedServeOptions {
  /** What `Deno.serve` gets (port, hostname, TLS); `onListen` is replaced. */
  serve: Deno.ServeTcpOptions & Partial<Deno.TlsCertifiedKeyPem>;
  /** Where the failure and recovery records go. @default console.error */
  log?: Log;
  /**
   * Wait before listening again after accepting or listening failed for
   * want of descriptors, in milliseconds. @default 100
   */
  retryMinMs?: number;
  /**
   * Longest wait between attempts while the port is taken (AddrInUse: it
   * doubles from `retryMinMs`), and how long a listener must have accepted
   * for its failure to begin a new stretch of not accepting
   * ({@link ListenerState.downSince}), in milliseconds. @default 5000
   */
  retryMaxMs?: number;
  /**
   * Least time between two `listener_accept_failed` lines, in milliseconds:
   * a process stuck at its limit fails at every re-listen, and each line
   * counts the failures since the last (`failures`). @default 5000
   */
  logIntervalMs?: number;
  /**
   * The error a listener not started here failed with (`deno serve`'s own,
   * under `--parallel`): the first listen is then a retry, after
   * `retryMinMs`, on `serve.hostname` and `serve.port`.
   */
  failedWith?: unknown;
  /**
   * Under `deno serve --parallel`: whether another worker of this process
   * still accepts on the port. Deno's workers share one listening socket
   * opened without SO_REUSEPORT, so while any of them accepts, listening
   * again here fails with AddrInUse; the port is served all the same, so
   * the state then counts as accepting (`viaOtherWorkers`) while this
   * listener keeps trying every `retryMaxMs`, and joins once that socket
   * has closed (the other workers failed too). Without it, AddrInUse keeps
   * the state down.
   */
  otherWorkersAccepting?: () => Promise<boolean>;
  /**
   * Called at each accept or listen failure for want of descriptors (the
   * descriptor sweep, `descriptor_sweep.ts`, frees idle ones then).
   */
  onDescriptorsShort?: () => void;
  /** Starts a server; tests pass a fake. @default Deno.serve */
  serveFn?: (
    options: Deno.ServeTcpOptions & Partial<Deno.TlsCertifiedKeyPem>,
    handler: Deno.ServeHandler<Deno.NetAddr>,
  ) => Deno.HttpServer<Deno.NetAddr>;
}

/** A server that survives its accept loop failing. */
export interface SupervisedServer {
  /** The bound address; port 0 resolves to the real port, kept on restarts. */
  readonly addr: Deno.NetAddr;
  /** Live state, for `/healthz`. */
  readonly state: Readonly<ListenerState>;
  /**
   * Resolves after `shutdown()`; rejects on an accept or listen failure that
   * is not descriptor exhaustion (as `Deno.serve`'s `finished` would).
   */
  readonly finished: Promise<void>;
  /**
   * Stops retrying and shuts down every server started, the current one and
   * the earlier ones still holding connections. Safe to call twice.
   */
  shutdown(): Promise<void>;
  /**
   * Retires the current server at once (its abort signal: Deno cancels
   * every pending WebSocket read, which frees endless fragments, and
   * writes no Close frame of its own, so the closes the caller queued just
   * before go out as they are), runs `between`, then listens again
   * on the same port, retrying while the port is still held, up to
   * `limitMs`. Resolves with how long the port did not accept, in ms.
   *
   * @throws {Error} When it cannot listen again within `limitMs`; the state
   * stays not accepting.
   */
  recycle(between: () => Promise<void>, limitMs: number): Promise<number>;
}

const RETRY_MIN_MS = 100;

/**
 * The server's `onError`: Deno's own (the error logged, a bare 500), but
 * silent for a refusal's body ending in `RefusalClosed`, which is how a
 * refusal closes its connection (`admission/refuse.ts`), not a fault.
 */
export function onError(error: unknown): Response {
  if (!(error instanceof RefusalClosed)) console.error(error);
  return new Response("Internal Server Error", { status: 500 });
}
const RETRY_MAX_MS = 5000;
const LOG_INTERVAL_MS = 5000;

/** The error's message without Deno's class prefixes. */
function describe(error: unknown): string {
  return String(error).replace(/^(?:\w+: )+/, "");
}

/**
 * Starts `Deno.serve` and keeps it accepting: when descriptors run out, logs
 * one line, listens again on the same port after 100 ms (as often as it
 * fails), and logs one line once it is back. Failures within 5 s of the
 * last line are counted, not logged: the next line says how many
 * (`failures`), and only a logged failure's recovery is logged.
 *
 * @param handler The request handler, shared by every server started.
 * @param options Listen options and retry timing.
 * @throws {Error} What `Deno.serve` throws for the first listen (e.g.
 * `Deno.errors.AddrInUse`); later listen failures are retried or reject
 * `finished`.
 * @example
 * ```ts ignore
 * import { superviseServe } from "./listener.ts";
 * const server = superviseServe(() => new Response("ok"), {
 *   serve: { port: 0, hostname: "127.0.0.1" },
 * });
 * console.log(server.addr.port, server.state.accepting);
 * await server.shutdown();
 * ```
 */
export function superviseServe(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  options: SupervisedServeOptions,
): SupervisedServer {
  const log: Log = options.log ??
    ((record) => console.error(JSON.stringify(record)));
  const retryMinMs = options.retryMinMs ?? RETRY_MIN_MS;
  const retryMaxMs = options.retryMaxMs ?? RETRY_MAX_MS;
  const logIntervalMs = options.logIntervalMs ?? LOG_INTERVAL_MS;
  const serveFn = options.serveFn ??
    ((serveOptions, serveHandler) => Deno.serve(serveOptions, serveHandler));
  const state: ListenerState = {
    accepting: true,
    acceptFailures: 0,
    listenFailures: 0,
    recycles: 0,
  };
  /**
   * When the latest stretch of not accepting usefully began: a listener
   * back for less than `retryMaxMs` before failing again (a process at its
   * descriptor limit re-listens, accepts for milliseconds, fails) stays
   * in the stretch, so the overload watch's bound on it can end (it never
   * did: each short re-listen began it afresh), unless a request reached
   * the handler through a listener started within the stretch: then it
   * accepted clients, and a crowd of them, not a stuck process, ran it out
   * (an attack review's 250 + 60 clients for 50 s ended the process with
   * exit 1 after 30 s, 132 honest WebSockets with it).
   */
  let stretchSince: number | undefined;
  /** Servers started so far; each one's number is its place in that count. */
  let listens = 0;
  /** The highest number of a server that has passed a request on. */
  let served = 0;
  /** The number of the server that was current when the stretch began. */
  let stretchFrom = 0;
  const down = () => {
    state.accepting = false;
    delete state.viaOtherWorkers;
    if (state.downSince !== undefined) return;
    const now = performance.now();
    const brief = now - upSince < retryMaxMs && served <= stretchFrom;
    if (!brief || stretchSince === undefined) {
      stretchSince = now;
      stretchFrom = listens;
    }
    state.downSince = stretchSince;
  };
  /** When each failure within the window happened (`performance.now()`). */
  const failureTimes: number[] = [];
  /** Counts an accept or listen failure for `/healthz` (`recentFailures`). */
  const noteFailure = () => {
    const now = performance.now();
    failureTimes.push(now);
    while (failureTimes[0]! <= now - LISTENER_FAILURE_WINDOW_MS) {
      failureTimes.shift();
    }
    state.lastFailureAt = now;
    state.recentFailures = failureTimes.length;
  };
  const up = () => {
    state.accepting = true;
    delete state.downSince;
    delete state.viaOtherWorkers;
  };
  /** Servers shut down by a recycle: their end is expected, not an error. */
  const retired = new WeakSet<Deno.HttpServer<Deno.NetAddr>>();
  /** What retires each server at once (`Deno.serve`'s abort signal). */
  const aborts = new WeakMap<Deno.HttpServer<Deno.NetAddr>, AbortController>();
  // Earlier servers keep serving the connections they accepted until shutdown.
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  /** When each server's accept loop failed (`performance.now()` ms). */
  const failedAt = new WeakMap<Deno.HttpServer<Deno.NetAddr>, number>();
  /** The first server: no wrapper sees its answers (every later one's are). */
  let unwatched: Deno.HttpServer<Deno.NetAddr> | undefined;
  /** Servers that passed on a 101: a WebSocket lives on one of their connections. */
  const upgraded = new WeakSet<Deno.HttpServer<Deno.NetAddr>>();
  /** Failed servers being shut down for holding no WebSocket ({@link retireIdle}). */
  const retiring = new WeakSet<Deno.HttpServer<Deno.NetAddr>>();
  let stopping = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settle!: { resolve: () => void; reject: (error: unknown) => void };
  const finished = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });

  const listen = (port: number) => {
    const abort = new AbortController();
    const number = ++listens;
    // The first server's requests never end a stretch (unless it is a
    // retry already, `failedWith`): no wrapper for it, nothing added per
    // request unless accepting has failed.
    const first = number === 1 && options.failedWith === undefined;
    const passedOn = (response: Response) => {
      if (response.status === 101) upgraded.add(server);
      return response;
    };
    const serverHandler: Deno.ServeHandler<Deno.NetAddr> = first
      ? handler
      : (request, info) => {
        if (served < number) served = number;
        const response = handler(request, info);
        return response instanceof Response
          ? passedOn(response)
          : response.then(passedOn);
      };
    const server = serveFn(
      { ...options.serve, port, signal: abort.signal, onListen() {}, onError },
      serverHandler,
    );
    aborts.set(server, abort);
    if (first) unwatched = server;
    servers.push(server);
    server.finished.then(
      () => {
        if (retired.has(server)) return forget(server);
        // Only shutdown() or an abort signal ends the loop without an error.
        if (!stopping && server === servers.at(-1)) settle.resolve();
      },
      (error) => {
        if (retired.has(server)) return forget(server);
        if (stopping || server !== servers.at(-1)) return;
        if (!isDescriptorExhaustion(error)) return settle.reject(error);
        failedAt.set(server, performance.now());
        noteFailure();
        options.onDescriptorsShort?.();
        retireIdle();
        down();
        state.acceptFailures++;
        state.lastAcceptError = describe(error);
        delay = retryMinMs;
        const now = performance.now();
        failed(now);
        retry(now, 1);
      },
    );
    return server;
  };

  let delay = retryMinMs;
  let upSince = -Infinity;
  /** When the last `listener_accept_failed` line was logged. */
  let loggedAt = -Infinity;
  /** Failures since that line, this one included. */
  let unlogged = 0;
  /** Whether the recovery under way follows a logged failure. */
  let announce = false;
  /** Logs the failure, or counts it while the last line is recent. */
  const failed = (now: number) => {
    unlogged++;
    announce = now - loggedAt >= logIntervalMs;
    if (!announce) return;
    loggedAt = now;
    log({
      event: "listener_accept_failed",
      port: addr.port,
      error: state.lastAcceptError,
      retryMs: delay,
      failures: unlogged,
    });
    unlogged = 0;
  };
  /** Listen failures for want of descriptors not logged yet. */
  let listenUnlogged = 0;
  /**
   * Counts and logs a failed attempt to listen again. The port taken
   * (AddrInUse) is logged every time: the retries back off to one per
   * `retryMaxMs`, and another process may be answering on the port (a
   * local program binding it with SO_REUSEADDR while this one was not
   * listening took it and answered 192 connections as the service, with
   * nothing in this log: issue #20). Out of descriptors, a retry comes
   * every `retryMinMs`: a line at most once per `logIntervalMs` (the same
   * clock as `listener_accept_failed`'s), with the count since the last.
   */
  const listenFailed = (error: unknown, attempt: number) => {
    state.listenFailures++;
    state.lastListenError = describe(error);
    noteFailure();
    listenUnlogged++;
    if (isDescriptorExhaustion(error)) {
      const now = performance.now();
      if (now - loggedAt < logIntervalMs) return;
      loggedAt = now;
    }
    log({
      event: "listener_listen_failed",
      port: addr.port,
      error: state.lastListenError,
      attempt,
      retryMs: delay,
      failures: listenUnlogged,
    });
    listenUnlogged = 0;
  };
  const retry = (since: number, attempt: number) => {
    timer = setTimeout(() => {
      timer = undefined;
      if (stopping) return;
      try {
        listen(addr.port);
      } catch (error) {
        // AddrInUse too: another process may hold the port for a while.
        if (
          !isDescriptorExhaustion(error) &&
          !(error instanceof Deno.errors.AddrInUse)
        ) {
          return settle.reject(error);
        }
        state.lastAcceptError = describe(error);
        if (isDescriptorExhaustion(error)) options.onDescriptorsShort?.();
        // Out of descriptors: any moment one may free, and trying costs a
        // call. A port another listener holds may stay taken a while.
        delay = error instanceof Deno.errors.AddrInUse
          ? Math.min(delay * 2, retryMaxMs)
          : retryMinMs;
        if (
          error instanceof Deno.errors.AddrInUse &&
          options.otherWorkersAccepting
        ) {
          return options.otherWorkersAccepting().then((shared) => {
            if (stopping) return;
            if (shared) viaOtherWorkers();
            else {
              if (state.viaOtherWorkers) down();
              listenFailed(error, attempt);
            }
            retry(since, attempt + 1);
          });
        }
        listenFailed(error, attempt);
        return retry(since, attempt + 1);
      }
      up();
      upSince = performance.now();
      if (!announce) return;
      announce = false;
      log({
        event: "listener_accepting",
        port: addr.port,
        afterMs: Math.round(performance.now() - since),
        attempts: attempt,
      });
    }, delay);
  };

  /** The port is served by the other workers; this one keeps trying. */
  const viaOtherWorkers = () => {
    if (state.viaOtherWorkers) return;
    state.accepting = true;
    state.viaOtherWorkers = true;
    delete state.downSince;
    delay = retryMaxMs;
    log({
      event: "listener_served_by_other_workers",
      port: addr.port,
      retryMs: delay,
    });
  };

  /**
   * Shuts down the failed servers that hold no WebSocket, once their
   * failure is `retryMaxMs` old (requests accepted just before it have
   * reached the handler by then), and forgets them: a graceful shutdown
   * lets their answers finish and closes their idle keep-alive
   * connections. Kept, each cost about 3.5 KB of heap for good (300
   * failures under `prlimit --nofile=64`: 3.9 -> 5.0 MB heap after GC,
   * 6.1 at 600, 7.1 at 900; retired, 4.1-4.3 MB throughout), and a crowd of
   * refused clients fails the listener about once a second. The first
   * server, with no wrapper, and any that passed on a 101 stay until
   * {@link SupervisedServer.shutdown} or a recycle.
   */
  const retireIdle = () => {
    const now = performance.now();
    for (const old of servers) {
      const at = failedAt.get(old);
      if (at === undefined || now - at < retryMaxMs) continue;
      if (old === unwatched || upgraded.has(old)) continue;
      if (retiring.has(old) || retired.has(old)) continue;
      retiring.add(old);
      old.shutdown().then(() => forget(old), () => forget(old));
    }
  };

  const forget = (server: Deno.HttpServer<Deno.NetAddr>) => {
    if (server === unwatched) unwatched = undefined;
    const index = servers.indexOf(server);
    if (index >= 0) servers.splice(index, 1);
  };

  let addr: Deno.NetAddr;
  if (options.failedWith === undefined) {
    addr = listen(options.serve.port ?? 8000).addr;
  } else {
    addr = {
      transport: "tcp",
      hostname: options.serve.hostname ?? "0.0.0.0",
      port: options.serve.port ?? 8000,
    };
    down();
    noteFailure();
    state.acceptFailures++;
    state.lastAcceptError = describe(options.failedWith);
    failed(performance.now());
    retry(performance.now(), 1);
  }
  let stopped: Promise<void> | undefined;
  return {
    addr,
    state,
    finished,
    shutdown() {
      stopped ??= (async () => {
        stopping = true;
        clearTimeout(timer);
        state.accepting = false;
        // A server whose loop failed is still shut down: that closes the
        // connections it accepted.
        await Promise.all(servers.map((server) => server.shutdown()));
        settle.resolve();
      })();
      return stopped;
    },
    async recycle(between, limitMs) {
      const since = performance.now();
      clearTimeout(timer);
      timer = undefined;
      down();
      // Every server, not only the last: one whose accept loop failed for
      // want of descriptors still holds the connections it accepted (closes
      // never answered held 231 of 256 descriptors through a recycle that
      // aborted only the server listening since: tests/start/
      // unanswered_closes_test.ts).
      for (const old of servers) {
        if (retired.has(old)) continue;
        retired.add(old);
        // A failed one's end has been seen already: forget it once aborted.
        old.finished.then(() => forget(old), () => forget(old));
        // Aborted, not shut down: Deno's graceful shutdown writes its own
        // Close 1001 on every WebSocket whose close() op it has not polled
        // yet (a lazy op, polled on the next turn of the loop), so the 1013
        // the caller queued just before was lost (20 of 20 clients got
        // 1001; with the abort 20 of 20 got 1013: the recycle test in
        // tests/start/listener_test.ts). The abort cancels every read at
        // once as the shutdown does, which frees what Deno collected, and
        // writes no frame of its own. HTTP requests in flight on the old
        // server are cut.
        aborts.get(old)?.abort();
      }
      await between();
      const deadline = since + limitMs;
      for (;;) {
        if (stopping) throw new Error("The server is stopping");
        try {
          listen(addr.port);
          break;
        } catch (error) {
          // The closed listener may hold the port for a few milliseconds
          // (17 ms measured); descriptors may have run out.
          const retryable = error instanceof Deno.errors.AddrInUse ||
            isDescriptorExhaustion(error);
          state.lastAcceptError = describe(error);
          if (!retryable || performance.now() >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      state.recycles++;
      up();
      upSince = performance.now();
      return Math.round(performance.now() - since);
    },
  };
}
