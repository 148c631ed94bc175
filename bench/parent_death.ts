/**
 * Child processes that die with the process that spawned them, through the
 * kernel's parent-death signal (`PR_SET_PDEATHSIG`, set by util-linux's
 * `setpriv --pdeathsig`, then exec): a test run killed from outside
 * (SIGKILL or SIGTERM of `deno test`) runs no `finally` and no `await using`,
 * and the services, nginx and Redis it had started kept running for hours.
 *
 * The signal is tied to the thread that spawned the child: Deno spawns from
 * the thread running the JavaScript (the main one in `deno test`), so it
 * fires when the process ends, not when a pool thread does.
 *
 * @module
 */

/**
 * Where `name` is on this process's PATH, or `name` itself when it is not
 * found there: the child's own PATH may lack it (a test runs the service
 * with `PATH: ""` to take `ss` away).
 */
function onOwnPath(name: string): string {
  if (name.includes("/")) return name;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (dir && Deno.statSync(`${dir}/${name}`).isFile) {
        return `${dir}/${name}`;
      }
    } catch {
      // Not in this folder.
    }
  }
  return name;
}

/** The signal a child gets when its parent dies. */
export type ParentDeathSignal = "KILL" | "TERM";

/**
 * `program` and `args` rewritten to run under `setpriv --pdeathsig <signal>`,
 * which execs `program` (both found on this process's PATH): the child keeps
 * its pid and gets `signal` once the process spawning it is gone. `TERM` is
 * for a child that must pass it on (`deno task` ends its own children on
 * SIGTERM, not on SIGKILL).
 *
 * @param program What `Deno.Command` would run (a path, or a name on PATH).
 * @param args Its arguments.
 * @param signal KILL unless told.
 * @returns The program and arguments to give `Deno.Command` instead.
 * @example Redis dies with the test run
 * ```ts ignore
 * const [program, args] = dieWithParent("/usr/bin/redis-server", ["--port", "0"]);
 * new Deno.Command(program, { args }).spawn();
 * ```
 */
export function dieWithParent(
  program: string,
  args: string[],
  signal: ParentDeathSignal = "KILL",
): [string, string[]] {
  return [
    onOwnPath("setpriv"),
    ["--pdeathsig", signal, onOwnPath(program), ...args],
  ];
}
