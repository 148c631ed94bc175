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
import { CLOSE_SHUTDOWN } from "./lib/close_codes.ts";
import { bootService, exitOnStartupError } from "./lib/startup.ts";

function boot() {
  try {
    return bootService((name) => Deno.env.get(name), "serve");
  } catch (error) {
    return exitOnStartupError(error);
  }
}

const { config, echoApp, output, telemetry, startRecord } = boot();
const { registry, memory } = echoApp.services;
output.log(startRecord);

function stop(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.removeSignalListener(signal, stop);
  }
  // Deno sends 1001 itself; this records it as the service's close (the log
  // and /metrics say 1001, not the 1005 Deno reports) and refuses newcomers.
  registry.closeAll(CLOSE_SHUTDOWN);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<"grace">((resolve) => {
    timer = setTimeout(
      () => resolve("grace"),
      config.shutdownGraceSeconds * 1000,
    );
  });
  Promise.race([registry.whenEmpty(), grace]).then((ended) => {
    clearTimeout(timer);
    registry.dispose();
    memory.dispose();
    telemetry.dispose();
    output.flush();
    // Clients that never answered the close would hold Deno's drain open.
    if (ended === "grace") Deno.exit(0);
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
    const host = addr.hostname === "0.0.0.0" || addr.hostname === "::"
      ? "localhost"
      : addr.hostname.includes(":")
      ? `[${addr.hostname}]`
      : addr.hostname;
    const base = `${host}:${addr.port}`;
    // Not console.log: under --parallel it prefixes the worker's name.
    Deno.stdout.writeSync(
      new TextEncoder().encode(
        `ws-echo: page http://${base}/  echo ws://${base}/echo\n`,
      ),
    );
  },
} satisfies Deno.ServeDefaultExport;
