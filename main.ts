/**
 * ws-echo: a WebSocket echo service, pywebsocket-compatible, for tutorials,
 * tests and demos. This module only starts it with `deno run` (`deno task
 * start`, Deno Deploy): it reads the environment, listens, logs the settings
 * in force, and stops on SIGINT or SIGTERM. The app is assembled in
 * `routes/app.ts`; `serve.ts` is the entry point for `deno serve`.
 *
 * @module
 */
import {
  announceListening,
  bootService,
  exitOnStartupError,
} from "./lib/start/startup.ts";
import { startServer } from "./lib/start/server.ts";
import { createApp } from "./routes/app.ts";

if (import.meta.main) {
  try {
    // Only the variables the service reads: `--allow-env` names exactly these.
    const { config, echoApp, output, startRecord } = bootService(
      (name) => Deno.env.get(name),
      { mode: "run", createApp },
    );
    const server = startServer(echoApp, {
      onListen: (urls) => announceListening(urls, output, config.logFormat),
      exit: (code) => {
        output.flush();
        Deno.exit(code);
      },
    });
    // PORT=0 picks a port: the record names the one picked.
    output.log({ ...startRecord, port: server.addr.port });
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
