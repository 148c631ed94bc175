/**
 * ws-echo: a WebSocket echo service, pywebsocket-compatible, for tutorials,
 * tests and demos. This module only starts it: it reads the environment,
 * listens, and stops on SIGINT or SIGTERM. The app is assembled in
 * `lib/app.ts`.
 *
 * @module
 */
import { createApp } from "./lib/app.ts";
import { isDenoDeploy } from "./lib/client_ip.ts";
import { ConfigError, ENV_NAMES, parseConfig } from "./lib/config.ts";
import { applyFdLimit, readOpenFileLimit } from "./lib/fd_limit.ts";
import { batchedLog } from "./lib/log.ts";
import { ListenError, startServer } from "./lib/server.ts";

/** Prints a start-up failure in one line and exits non-zero; rethrows bugs. */
function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError || error instanceof ListenError) {
    console.error(`ws-echo: ${error.message}`);
  } else if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    console.error(`ws-echo: Missing permission: ${error.message}`);
  } else {
    throw error;
  }
  Deno.exit(2);
}

if (import.meta.main) {
  try {
    // Only the variables the service reads: `--allow-env` names exactly these.
    const env = (name: string) => Deno.env.get(name);
    // MAX_CONNECTIONS must fit the open-file limit, or accept() fails first.
    const { config, warning } = applyFdLimit(
      parseConfig(
        Object.fromEntries(ENV_NAMES.map((name) => [name, env(name)])),
      ),
      readOpenFileLimit(),
    );
    if (warning) console.error(warning);
    const output = batchedLog(config.logFormat);
    const echoApp = createApp(config, {
      log: output.log,
      platform: { denoDeploy: isDenoDeploy(env) },
    });
    const server = startServer(echoApp, {
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
