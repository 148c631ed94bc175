/**
 * Runs an RSS watchdog thread scenario in a child process, as the overload
 * watch starts the thread, with a stand-in `ss` on PATH: the child's RSS is
 * its own (a test runner's falls as its type checker's memory is freed),
 * and the stand-in decides what the kernel shows at each look. Shared by
 * the thread's sweep and unread tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "../_server.ts";
import type { ThreadAbort } from "../../lib/start/watchdog_orders.ts";

/** What the thread did: its abort, and the `ss -K` filter it ran. */
export interface ThreadRun {
  abort: ThreadAbort;
  /** The stand-in's record of the `ss -K` call (its `killed` file). */
  killed: string;
}

/**
 * Runs `child` (`deno eval`, cwd the repository) with `ss` (a shell script
 * that may write `$dir/killed` and `$dir/calls`) first on PATH. Fails
 * unless the child printed `past true` (RSS put past MAX_RSS_BYTES) and an
 * `abort <JSON>` line; a failure message carries the child's output and
 * every `ss` call recorded. The child is killed after 60 s.
 */
export async function runWatchdogChild(
  ss: string,
  child: string,
): Promise<ThreadRun> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ss`, ss, { mode: 0o755 });
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", child],
      cwd: ROOT,
      env: { PATH: `${dir}:${Deno.env.get("PATH") ?? ""}` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Killed past it: a hang fails the test rather than holding it.
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    // "past true 6 / none" at load ~25 said too little: each `ss` call
    // that ran (one the thread timed out may not have got this far).
    const calls = await Deno.readTextFile(`${dir}/calls`).catch(() => "");
    const said = `${stdout} ${
      new TextDecoder().decode(output.stderr)
    }; ss calls:\n${calls}`;
    assert.match(stdout, /^past true /m, said);
    const line = stdout.match(/^abort (.*)$/m);
    assert.ok(line, `no abort: ${said}`);
    const killed = await Deno.readTextFile(`${dir}/killed`);
    return { abort: JSON.parse(line[1]!) as ThreadAbort, killed };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
