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
import { learnCapThenLogStart } from "./lib/start/learned_cap.ts";
import {
  ProcessEnd,
  stopBegan,
  stopDeadlineMs,
  stopEnded,
} from "./lib/start/process_end.ts";
import { exitWithin } from "./lib/start/exit_reaper.ts";
import { createApp } from "./routes/app.ts";

if (import.meta.main) {
  try {
    // Only the variables the service reads: `--allow-env` names exactly these.
    const {
      config,
      echoApp,
      output,
      otel,
      startRecord,
      loaded,
      openFileLimit,
    } = bootService(
      (name) => Deno.env.get(name),
      { mode: "run", createApp },
    );
    await loaded;
    const server = startServer(echoApp, {
      onListen: (urls) => announceListening(urls, output, config.logFormat),
      // This process is the service's own: the watchdog may end it.
      watchdog: true,
      reserve: true,
      kernelCheck: true,
      exit: (code) => {
        output.flush();
        exitWithin(code, otel);
      },
    });
    // A stop ends the ask's waits: they would hold the process (F-J).
    const learning = new AbortController();
    learnCapThenLogStart(echoApp.services, {
      workers: 1,
      known: openFileLimit,
      // Its server keeps quiet about a refusal's closing (listener.ts).
      closeRefusals: true,
      // `prlimit` borrows the descriptors held for `ss`: clients may have
      // taken every other one by then.
      reserve: server.reserve,
      signal: learning.signal,
      record: startRecord,
      // PORT=0 picks a port: the record names the one picked.
      port: server.addr.port,
      log: output.log,
    });
    const signals = ["SIGINT", "SIGTERM"] as const;
    const end = new ProcessEnd({ workers: 1, reap: otel });
    const { log, metrics } = echoApp.services;
    let stopping = false;
    const stop = (signal: Deno.Signal) => {
      if (stopping) return;
      stopping = true;
      end.begin(stopDeadlineMs(config.shutdownGraceSeconds));
      learning.abort();
      const since = Date.now();
      log(stopBegan(signal, metrics, config));
      server.shutdown().then((stopped) => {
        log(stopEnded(since, metrics));
        output.flush();
        for (const [signal, listener] of listeners) {
          Deno.removeSignalListener(signal, listener);
        }
        // Deno's server is held by a connection that never ends: only
        // Deno.exit ends the process, and waiting longer changes nothing
        // (with OpenTelemetry on, the reaper armed by `begin` bounds it).
        if (!stopped) Deno.exit(0);
        // Else the process ends when its event loop is empty, or shortly
        // after by Deno.exit (`process_end.ts` says why both).
        end.stopped();
      });
    };
    const listeners = signals.map((signal) =>
      [signal, () => stop(signal)] as const
    );
    for (const [signal, listener] of listeners) {
      Deno.addSignalListener(signal, listener);
    }
  } catch (error) {
    exitOnStartupError(error);
  }
}
