/**
 * The entry point for `deno serve` (`deno task serve`, which adds
 * `--parallel`): Deno listens and calls the default export's `fetch`; this
 * module never listens itself. Each worker builds its own app, so the caps
 * and the metrics are per worker; the memory budget is the process's, each
 * worker holding its part (`serveWorkers`).
 *
 * On SIGINT or SIGTERM Deno stops listening and closes every WebSocket with
 * 1001 itself; each worker then waits up to SHUTDOWN_GRACE_SECONDS for its
 * connections to go, flushes its log, and past that ends the process.
 *
 * When descriptors run out, Deno 2.9's accept loop fails and rejects a
 * promise nobody can catch (`server.finished` of the server `deno serve`
 * starts), which would end the process with `Uncaught (in promise) Http:
 * Error: Too many open files`. Each worker handles that rejection and listens
 * again itself, on the address the main worker was told (`serve_address.ts`),
 * with `reusePort` (`--unstable-net`), retrying as `deno task start` does
 * (`lib/start/listener.ts`). Deno's workers share one listening socket
 * opened without SO_REUSEPORT, so while another worker still accepts on it
 * that listen fails with AddrInUse: the port is served by the others, the
 * worker counts as accepting and keeps trying; once every worker's accept
 * loop has failed the shared socket closes and they all listen again
 * (measured with `Deno.listen` then `Deno.listen({ reusePort: true })` on
 * one port: AddrInUse).
 *
 * A port another process holds is found by the task before `deno serve`
 * starts (`serveFlags`); if it is taken in between, Deno's own listen fails
 * with AddrInUse in every worker, and that ends the process with one line
 * unless the main worker listened (a worker that started late, after the
 * others had failed and listened again).
 *
 * `main.ts` cannot be this module: `deno run` warns about a default export
 * with `fetch`, and under `deno serve` its `import.meta.main` is true too.
 *
 * @module
 */
// First, for its side effect: a stop signal is heard from the worker's first
// moment (a worker that was still loading kept the process up for good).
import { onStopSignal } from "./lib/start/stop_signal.ts";
import { type SupervisedServer, superviseServe } from "./lib/start/listener.ts";
import { isDescriptorExhaustion } from "./lib/os_errors.ts";
import { ServeAddress } from "./lib/start/serve_address.ts";
import {
  drainConnections,
  ListenError,
  listenUrls,
} from "./lib/start/server.ts";
import { OverloadWatch } from "./lib/start/overload_watch.ts";
import { KernelCountCheck } from "./lib/start/kernel_count_check.ts";
import { AckWatch } from "./lib/start/ack_watch.ts";
import { SocketBytesReader } from "./lib/start/socket_bytes.ts";
import {
  DescriptorReserve,
  SS_DESCRIPTORS,
} from "./lib/start/descriptor_reserve.ts";
import { SsSocketAbort } from "./lib/start/socket_abort.ts";
import { SUSPECT_CHANNEL } from "./lib/admission/suspect_peers.ts";
import { HeldSockets } from "./lib/connection/held_sockets.ts";
import { DescriptorSweep } from "./lib/start/descriptor_sweep.ts";
import { announceListening, exitOnStartupError } from "./lib/start/announce.ts";
import { bootService, serveHost } from "./lib/start/startup.ts";
import { learnCapThenLogStart } from "./lib/start/learned_cap.ts";
import {
  ProcessEnd,
  stopBegan,
  stopDeadlineMs,
  stopEnded,
} from "./lib/start/process_end.ts";
import {
  armReaper,
  exitWithin,
  REAP_EXIT_MS,
} from "./lib/start/exit_reaper.ts";
import { makeThreadAhead } from "./lib/start/watchdog_arming.ts";
import {
  WORKERS_READY_WAIT_MS,
  workersReady,
} from "./lib/start/workers_ready.ts";
import { createApp } from "./routes/app.ts";
import type { EchoApp } from "./lib/services.ts";

function boot() {
  try {
    return bootService((name) => Deno.env.get(name), {
      mode: "serve",
      createApp,
    });
  } catch (error) {
    return exitOnStartupError(error);
  }
}

const {
  config,
  echoApp,
  output,
  telemetry,
  otel,
  startRecord,
  loaded,
  workers,
  openFileLimit,
} = boot();
// Deno listens once this module has run: the Redis client is loaded first,
// and every worker has made its RSS watchdog thread, whose runtime takes
// descriptors that another worker's accepts could take (`workers_ready.ts`).
const watchdogThread = makeThreadAhead(config);
const [, ready] = await Promise.all([loaded, workersReady(workers)]);
if (ready.timedOut) {
  output.log({
    event: "warning",
    message: `Serving before every worker made its RSS watchdog thread: ${
      workers - 1 - ready.heard
    } of ${
      workers - 1
    } others did not say so within ${WORKERS_READY_WAIT_MS} ms`,
  });
}

// Each worker aborts only its own connections: the filter names their peers.
// Descriptors for `ss`, so the watch still reads and aborts when the
// process is out of them (`descriptor_reserve.ts`).
const reserve = config.port > 0
  ? new DescriptorReserve(SS_DESCRIPTORS)
  : undefined;
const socketAbort = config.port > 0
  ? new SsSocketAbort(config.port, { reserve })
  : undefined;
if (socketAbort) {
  echoApp.services.held = new HeldSockets(
    socketAbort,
    (report) => echoApp.services.log({ event: "sockets_aborted", ...report }),
  );
}
// The kernel's word on who reads, while the memory guard is pressed: `ss`
// lists every worker's sockets, and each connection asks for its own peer.
const ackWatch = config.port > 0
  ? new AckWatch({
    memory: echoApp.services.memory,
    openConnections: () => echoApp.services.registry.openCount,
    source: new SocketBytesReader(config.port, { reserve }),
    log: echoApp.services.log,
  })
  : undefined;
if (ackWatch) echoApp.services.acks = ackWatch.book;

// Deno owns the listener, shared by every worker: each sweeps the idle
// connections it answered, and any that idle past the ping interval.
const sweep = socketAbort
  ? new DescriptorSweep(echoApp.services.registry, {
    port: config.port,
    reserve,
    abort: socketAbort,
    pingIntervalMs: config.pingIntervalSeconds * 1000,
    log: echoApp.services.log,
  })
  : undefined;

/** The app's handler; each request's peer noted for the sweep. */
const fetch: EchoApp["fetch"] = sweep
  ? (request, info) => {
    const peer = info?.remoteAddr;
    if (peer?.transport === "tcp") sweep.answered(peer);
    return echoApp.fetch(request, info);
  }
  : echoApp.fetch;

// Deno owns the listener here: the watch cannot recycle it, so memory Deno
// collects beyond MAX_RSS_BYTES ends the process (non-zero) instead.
const watch = new OverloadWatch(echoApp.services, {
  // Every worker shares the port Deno listens on.
  ...(socketAbort
    ? {
      socketBytes: new SocketBytesReader(config.port, { reserve }),
      socketAbort,
      port: config.port,
      suspectChannel: SUSPECT_CHANNEL,
    }
    : {}),
  exit: (code) => {
    output.flush();
    exitWithin(code, otel);
  },
  drain: () => drainConnections(echoApp.services),
  watchdog: true,
  ...(watchdogThread ? { watchdogThread } : {}),
});
// Each worker checks its own connections: `ss` lists every worker's.
const kernelCheck = socketAbort
  ? new KernelCountCheck(echoApp.services, {
    socketBytes: new SocketBytesReader(config.port, { reserve }),
    socketAbort,
    acks: ackWatch?.book,
  })
  : undefined;

/**
 * How long a worker that lost the election to say the port is taken waits
 * for the winner to end the process before it says so itself, in ms.
 */
const TAKEN_SAID_WAIT_MS = 5000;

/** This worker's own listener, once Deno's has failed. */
let relistened: SupervisedServer | undefined;
let relistening = false;
const serveAddress = new ServeAddress(() =>
  relistening
    ? relistened?.state.accepting === true &&
      !relistened.state.viaOtherWorkers
    : true
);
// MAX_CONNECTIONS in force is known once `prlimit` has answered (the
// tasks); the workers share the process's open-file limit. A stop ends the
// ask's waits: they would hold the process (F-J).
const learning = new AbortController();
learnCapThenLogStart(echoApp.services, {
  workers,
  known: openFileLimit,
  // `prlimit` borrows the descriptors held for `ss`.
  reserve,
  signal: learning.signal,
  record: startRecord,
  // PORT=0: Deno picks one port, shared by every worker; each worker's
  // record names it (it said port=0, a first-time user's review).
  ...(config.port === 0
    ? { port: serveAddress.known().then(({ port }) => port) }
    : {}),
  log: output.log,
});

globalThis.addEventListener("unhandledrejection", (event) => {
  const inUse = event.reason instanceof Deno.errors.AddrInUse;
  if (!isDescriptorExhaustion(event.reason) && !inUse) return;
  event.preventDefault();
  if (!inUse) sweep?.short();
  // Later failures are the supervised listener's own, handled there.
  if (relistening) return;
  relistening = true;
  echoApp.services.listener = {
    accepting: false,
    acceptFailures: 1,
    lastAcceptError: String(event.reason),
    downSince: performance.now(),
    listenFailures: 0,
    recycles: 0,
  };
  // deno task serve gives deno serve PORT and BIND_ADDRESS (serveFlags).
  const hostname = serveHost(config).replace(/^\[(.*)\]$/, "$1");
  if (inUse) serveAddress.foundTaken();
  serveAddress.ask().then((address) => {
    if (echoApp.services.registry.shuttingDown) return;
    // AddrInUse from Deno's own listen: unless the main worker listened on
    // the port (this worker started after the others had failed and listened
    // again with SO_REUSEPORT), another process holds it. Every worker finds
    // that; one says it and ends the process, the others stay silent unless
    // it is still up a while later.
    if (inUse && address === undefined) {
      const sayTaken = () => {
        output.flush();
        // Telemetry runs by now: with it on, Deno.exit can hang.
        if (otel) armReaper(REAP_EXIT_MS);
        exitOnStartupError(
          new ListenError(
            `Cannot listen on ${hostname} port ${config.port}: ${
              (event.reason as Error).message
            } (set BIND_ADDRESS or PORT)`,
          ),
        );
      };
      if (serveAddress.saysTaken()) sayTaken();
      setTimeout(sayTaken, TAKEN_SAID_WAIT_MS);
      return;
    }
    relistened = superviseServe(
      fetch as Deno.ServeHandler<Deno.NetAddr>,
      {
        serve: {
          port: address?.port ?? config.port,
          hostname: address?.hostname ?? hostname,
          reusePort: true,
        },
        log: output.log,
        failedWith: event.reason,
        onDescriptorsShort: () => sweep?.short(),
        otherWorkersAccepting: () => serveAddress.otherWorkersAccepting(),
      },
    );
    echoApp.services.listener = relistened.state;
  });
});

const end = new ProcessEnd({ workers, reap: otel });
function stop(signal: Deno.Signal): void {
  end.begin(stopDeadlineMs(config.shutdownGraceSeconds));
  learning.abort();
  watch.dispose();
  void kernelCheck?.dispose();
  ackWatch?.dispose();
  const { log, metrics } = echoApp.services;
  const since = Date.now();
  log(stopBegan(signal, metrics, config));
  // Deno sends 1001 itself; closing them here too records 1001 as the
  // service's close (the log and /metrics, not the 1005 Deno reports).
  drainConnections(echoApp.services).then(async (emptied) => {
    serveAddress.close();
    await relistened?.shutdown();
    telemetry.dispose();
    log(stopEnded(since, metrics));
    output.flush();
    // Clients that never answered the close would hold Deno's drain open
    // (with OpenTelemetry on, the reaper armed by `begin` bounds the exit).
    if (!emptied) Deno.exit(0);
    // Else the process ends once every worker has stopped (`process_end.ts`).
    end.stopped();
  });
}
onStopSignal(stop, workers);

/** Deno's `fetch` handler, and the start-up line `deno task start` prints. */
export default {
  fetch,
  onListen(addr: Deno.Addr) {
    if (addr.transport !== "tcp") return;
    serveAddress.listening(addr);
    announceListening(listenUrls(addr, false), output, config.logFormat);
  },
} satisfies Deno.ServeDefaultExport;
