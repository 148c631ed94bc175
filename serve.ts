/**
 * The entry point for `deno serve` (`deno task serve`, which adds
 * `--parallel`): Deno listens and calls the default export's `fetch`; this
 * module never listens itself. Each worker builds its own app, so the caps,
 * the memory budget and the metrics are per worker.
 *
 * On SIGINT or SIGTERM Deno stops listening and closes every WebSocket with
 * 1001 itself; each worker then waits up to SHUTDOWN_GRACE_SECONDS for its
 * connections to go, flushes its log, and past that ends the process.
 *
 * `main.ts` cannot be this module: `deno run` warns about a default export
 * with `fetch`, and under `deno serve` its `import.meta.main` is true too.
 *
 * @module
 */
import { drainConnections, listenUrls } from "./lib/start/server.ts";
import { OverloadWatch } from "./lib/start/overload_watch.ts";
import {
  announceListening,
  bootService,
  exitOnStartupError,
} from "./lib/start/startup.ts";
import { createApp } from "./routes/app.ts";

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

const { config, echoApp, output, telemetry, startRecord } = boot();
output.log(startRecord);

// Deno owns the listener here: the watch cannot recycle it, so memory Deno
// collects beyond MAX_RSS_BYTES ends the process (non-zero) instead.
const watch = new OverloadWatch(echoApp.services, {
  exit: (code) => {
    output.flush();
    Deno.exit(code);
  },
});

function stop(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.removeSignalListener(signal, stop);
  }
  watch.dispose();
  // Deno sends 1001 itself; closing them here too records 1001 as the
  // service's close (the log and /metrics, not the 1005 Deno reports).
  drainConnections(echoApp.services).then((emptied) => {
    telemetry.dispose();
    output.flush();
    // Clients that never answered the close would hold Deno's drain open.
    if (!emptied) Deno.exit(0);
  });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, stop);
}

/** Deno's `fetch` handler, and the start-up line `deno task start` prints. */
export default {
  fetch: echoApp.fetch,
  onListen(addr: Deno.Addr) {
    if (addr.transport !== "tcp") return;
    announceListening(listenUrls(addr, false), output, config.logFormat);
  },
} satisfies Deno.ServeDefaultExport;
