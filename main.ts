/**
 * ws-echo: a WebSocket echo service, pywebsocket-compatible, for tutorials,
 * tests and demos. This module only starts it with `deno run` (`deno task
 * start`, Deno Deploy): it reads the environment, listens, logs the settings
 * in force, and stops on SIGINT or SIGTERM. The app is assembled in
 * `routes/app.ts`; `serve.ts` is the entry point for `deno serve`.
 *
 * @module
 */
import { announceListening, exitOnStartupError } from "./lib/start/announce.ts";
import { bootService } from "./lib/start/startup.ts";
import { startServer } from "./lib/start/server.ts";
import { learnCap } from "./lib/start/learned_cap.ts";
import { createApp } from "./routes/app.ts";

if (import.meta.main) {
  try {
    // Only the variables the service reads: `--allow-env` names exactly these.
    const { config, echoApp, output, startRecord, loaded, openFileLimit } =
      bootService(
        (name) => Deno.env.get(name),
        { mode: "run", createApp },
      );
    await loaded;
    const server = startServer(echoApp, {
      onListen: (urls) => announceListening(urls, output, config.logFormat),
      // This process is the service's own: the watchdog may end it.
      watchdog: true,
      reserve: true,
      exit: (code) => {
        output.flush();
        Deno.exit(code);
      },
    });
    // PORT=0 picks a port: the record names the one picked. Under the tasks
    // MAX_CONNECTIONS in force is known once `prlimit` has answered.
    const port = server.addr.port;
    // `prlimit` borrows the descriptors held for `ss`: clients may have taken
    // every other one by then.
    learnCap(echoApp.services, {
      workers: 1,
      known: openFileLimit,
      reserve: server.reserve,
    }).then(
      (warning) => {
        if (warning) console.error(warning);
        const { maxConnections } = config;
        output.log({ ...startRecord, maxConnections, port });
      },
    );
    const signals = ["SIGINT", "SIGTERM"] as const;
    const stop = () => {
      server.shutdown().then((stopped) => {
        output.flush();
        for (const signal of signals) {
          Deno.removeSignalListener(signal, stop);
        }
        // Deno's server is held by a connection that never ends: only
        // Deno.exit ends the process, and waiting longer changes nothing.
        if (!stopped) Deno.exit(0);
        // The process ends when its event loop is empty, not by Deno.exit:
        // with OTEL_DENO=true, Deno.exit's metric flush can wait for good for
        // this thread to observe the gauges (Deno 2.9.6: 3 hangs in 8 exits
        // of a 10-line script, none in 8 drains). Deno.exit only if something
        // still holds the loop 5 s on.
        Deno.unrefTimer(setTimeout(() => Deno.exit(0), 5000));
      });
    };
    for (const signal of signals) Deno.addSignalListener(signal, stop);
  } catch (error) {
    exitOnStartupError(error);
  }
}
