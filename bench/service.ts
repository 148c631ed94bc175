/**
 * Runs the service as its own process with the `deno task start` flags, for
 * the tests and bench/. No imports from the app: it reads deno.json. Every
 * wait has a deadline.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { withDeadline } from "./wire.ts";
import { ensureBundles } from "../deploy/bundle.ts";
import { dieWithParent } from "./parent_death.ts";

/**
 * How long a process may take to print its start-up line or to exit, in
 * milliseconds, unless told: generous, since starting the service took 7 s
 * on a busy 2-core machine.
 */
export const DEFAULT_PROCESS_TIMEOUT_MS = 30_000;

/** The project folder. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** Built once per process: the sources do not change during a run. */
let bundled: Promise<unknown> | undefined;

/**
 * The arguments after `deno` in `deno task start`, read from deno.json: of
 * its last command, when the task sets something up first (`a && b; deno …`).
 * Like the task, it first rebuilds the bundle the command runs if stale.
 *
 * @throws {TypeError} If that command does not begin with `deno`.
 * @example
 * ```ts ignore
 * new Deno.Command(Deno.execPath(), { args: await startTaskArgs(), cwd: ROOT });
 * ```
 */
export async function startTaskArgs(): Promise<string[]> {
  bundled ??= ensureBundles();
  await bundled;
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const command = (denoJson.tasks.start as string).split(/;|&&/).at(-1)!;
  // `$TLS_ALLOW` is empty unless both TLS files are set: not for these services.
  const [deno, ...args] = command.trim().split(/\s+/).filter((word) =>
    !word.startsWith("$")
  );
  if (deno !== "deno") {
    throw new TypeError(
      `Cannot read the start task "${denoJson.tasks.start}": expected it to begin with deno`,
    );
  }
  return args;
}

/**
 * The arguments after `deno` of the `deno serve` command in `deno task
 * serve`, read from deno.json, with `--port` set to `port` in place of the
 * flags the task computes from PORT and BIND_ADDRESS (`serveFlags()`).
 *
 * @throws {TypeError} If the serve task has no `deno serve` command.
 * @example
 * ```ts ignore
 * new Deno.Command(Deno.execPath(), { args: await serveTaskArgs(8000), cwd: ROOT });
 * ```
 */
export async function serveTaskArgs(port: number): Promise<string[]> {
  bundled ??= ensureBundles();
  await bundled;
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const task = denoJson.tasks.serve as string;
  const at = task.indexOf("deno serve ");
  if (at < 0) {
    throw new TypeError(
      `Cannot read the serve task "${task}": expected a deno serve command`,
    );
  }
  return task.slice(at + "deno ".length)
    .replace(/\$\(deno eval .*?serveFlags\(\)'\)/, `--port=${port}`)
    .split(/\s+/);
}

/** Options for {@linkcode spawnServeTask}. */
export interface ServeTaskOptions {
  /** DENO_JOBS. @default {2} */
  workers?: number;
  /** The child's whole environment but NO_COLOR, PORT and DENO_JOBS. */
  env?: Record<string, string>;
}

/**
 * Spawns `deno task serve` from {@linkcode ROOT} on `port`, with `workers`
 * workers (DENO_JOBS) and only `env` (and NO_COLOR) in its environment, as a
 * process group of its own (setsid): `deno task` starts `deno serve` as its
 * child, and a SIGKILL of the task alone left that server running, holding
 * the port and the pipes a test awaited. End it with {@linkcode killGroup};
 * a SIGTERM to the child reaches the task, which passes it on. The task gets
 * that SIGTERM too when this process dies ({@linkcode dieWithParent}).
 *
 * No PATH unless `env` gives one, on purpose: the child then finds neither
 * `ss` (the kernel's count is off, the watch judges by timing) nor `prlimit`
 * (the open-file limit stays unknown and MAX_CONNECTIONS as set), so a test
 * behaves the same on every machine whatever its tools and limits. A test
 * about the start as a shell, systemd or Docker runs it passes
 * `PATH: Deno.env.get("PATH")` (serve_task_test's first test,
 * serve_abort_test, serve_non_readers_test).
 *
 * @example
 * ```ts ignore
 * const child = spawnServeTask(8000, { workers: 2 });
 * ```
 */
export function spawnServeTask(
  port: number,
  options: ServeTaskOptions & {
    /** Where stdout and stderr go. @default {"piped"} */
    output?: "piped" | "null";
  } = {},
): Deno.ChildProcess {
  const output = options.output ?? "piped";
  const [program, args] = dieWithParent(
    "setsid",
    [Deno.execPath(), "task", "--quiet", "serve"],
    "TERM",
  );
  return new Deno.Command(program, {
    args,
    cwd: ROOT,
    env: {
      ...options.env,
      NO_COLOR: "1",
      PORT: String(port),
      DENO_JOBS: String(options.workers ?? 2),
    },
    clearEnv: true,
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

/** Kills every process of `child`'s process group (started with setsid). */
export function killGroup(child: Deno.ChildProcess): void {
  try {
    Deno.kill(-child.pid, "SIGKILL");
  } catch {
    // The whole group has exited.
  }
}

/** Options for {@linkcode spawnService}. */
export interface SpawnOptions {
  /**
   * The arguments after `deno`.
   *
   * @default {await startTaskArgs()}
   */
  args?: string[];
  /**
   * Where the child's stderr goes.
   *
   * @default {"piped"}
   */
  stderr?: "piped" | "null" | "inherit";
  /**
   * A command that runs `deno` with the rest (it must exec it, so the
   * child's pid is Deno's), e.g. `["setpriv", "--bounding-set=-net_admin"]`.
   *
   * @default {[]}
   */
  prefix?: string[];
}

/**
 * Spawns the service as `deno task start` would, from {@linkcode ROOT}, with
 * only `env` (and NO_COLOR) in its environment; stdout is piped. It dies
 * with this process ({@linkcode dieWithParent}).
 *
 * No PATH unless `env` gives one, on purpose: the child then finds neither
 * `ss` (the kernel's count is off, the watch judges by timing) nor `prlimit`
 * (the open-file limit stays unknown and MAX_CONNECTIONS as set), so a test
 * behaves the same on every machine whatever its tools and limits. A test
 * about the start as a shell, systemd or Docker runs it passes
 * `PATH: Deno.env.get("PATH")` (process_test's first test,
 * startup_log_test's "ss on PATH", tests/start/_overload.ts).
 *
 * @example
 * ```ts ignore
 * const child = await spawnService({ PORT: "abc" });
 * ```
 */
export async function spawnService(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<Deno.ChildProcess> {
  const args = options.args ?? await startTaskArgs();
  // The death signal is set last, right before Deno: a prefix that changes
  // credentials could clear it.
  const [command, ...prefixArgs] = [
    ...options.prefix ?? [],
    ...dieWithParent(Deno.execPath(), args).flat(),
  ];
  return new Deno.Command(command!, {
    args: prefixArgs,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
}

/** A service process that has printed its start-up line. */
export interface RunningService extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** The start-up line: `page http://… echo ws://…/echo`. */
  line: string;
  /** The port in the start-up line. */
  port: number;
  /** The rest of stdout, from the line after {@link line}; disposing cancels it. */
  stdout: ReadableStreamDefaultReader<string>;
}

/**
 * Waits for `child` to exit; past `timeoutMs` it kills it with SIGKILL and
 * throws.
 *
 * @throws {Deno.errors.TimedOut} `Timed out after 30000 ms waiting for the service (pid 123) to exit`
 * @example
 * ```ts ignore
 * child.kill("SIGTERM");
 * const { code } = await waitForExit(child);
 * ```
 */
export async function waitForExit(
  child: Deno.ChildProcess,
  options: { timeoutMs?: number } = {},
): Promise<Deno.CommandStatus> {
  try {
    return await withDeadline(
      child.status,
      options.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS,
      `the service (pid ${child.pid}) to exit`,
    );
  } catch (error) {
    if (error instanceof Deno.errors.TimedOut) {
      child.kill("SIGKILL");
      await child.status;
    }
    throw error;
  }
}

/**
 * The rest of stdout past the start-up line: `read`, the text read with that
 * line (under load the lines after it can arrive in the same read: the
 * Redis bridge's first line was lost that way, and a test waiting for it
 * failed), then what `reader` reads. Cancelling it cancels `reader`.
 */
function afterStartLine(
  read: string,
  reader: ReadableStreamDefaultReader<string>,
): ReadableStreamDefaultReader<string> {
  return new ReadableStream<string>({
    start(controller) {
      if (read) controller.enqueue(read);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }).getReader();
}

/**
 * Spawns the service on `env` (give it `PORT: "0"` and `BIND_ADDRESS`) and waits
 * for its start-up line; `await using` stops it with SIGTERM. Like
 * {@linkcode spawnService}, no PATH unless `env` gives one.
 *
 * @throws {Deno.errors.TimedOut} If no start-up line comes within
 * `timeoutMs` (default {@linkcode DEFAULT_PROCESS_TIMEOUT_MS}); the child is killed.
 * @example
 * ```ts ignore
 * await using service = await startService({ PORT: "0", BIND_ADDRESS: "127.0.0.1" });
 * const url = `ws://127.0.0.1:${service.port}/echo`;
 * ```
 */
export async function startService(
  env: Record<string, string>,
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<RunningService> {
  const child = await spawnService(env, options);
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    await withDeadline(
      (async () => {
        while (!text.includes("\n")) {
          const { value, done } = await stdout.read();
          if (done) break;
          text += value;
        }
      })(),
      options.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS,
      `the start-up line of the service (pid ${child.pid})`,
    );
  } catch (error) {
    child.kill("SIGKILL");
    await stdout.cancel();
    await child.status;
    throw error;
  }
  // No newline: stdout ended after a partial line, which is all there is.
  const end = text.includes("\n") ? text.indexOf("\n") : text.length;
  const line = text.slice(0, end);
  const port = Number(/:(\d+)\//.exec(line)?.[1]);
  return {
    child,
    line,
    port,
    stdout: afterStartLine(text.slice(end + 1), stdout),
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch {
        // It has exited already.
      }
      await stdout.cancel();
      if ((options.stderr ?? "piped") === "piped" && !child.stderr.locked) {
        await child.stderr.cancel();
      }
      await waitForExit(child);
    },
  };
}
