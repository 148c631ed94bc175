import assert from "node:assert/strict";
import { ROOT } from "./_server.ts";
import { readTextUntil, until } from "./_client.ts";
import { dieWithParent } from "../bench/parent_death.ts";

/** A process as /proc shows it. */
interface Process {
  pid: number;
  parent: number;
  /** The command's name (`deno`, `nginx`, `redis-server`). */
  name: string;
  /** Clock ticks after boot: tells it from a later process with its pid. */
  started: string;
}

/** /proc/<pid>/stat, or undefined once the process is gone or a zombie. */
function readStat(pid: number): Process | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The name is in parentheses and may hold spaces; the fields follow it.
  const end = text.lastIndexOf(")");
  const [state, parent, ...rest] = text.slice(end + 2).split(" ");
  if (state === "Z" || state === "X") return undefined;
  return {
    pid,
    parent: Number(parent),
    name: text.slice(text.indexOf("(") + 1, end),
    started: rest[17]!,
  };
}

/** Every live process below `pid`. */
function descendants(pid: number): Process[] {
  const all = [...Deno.readDirSync("/proc")]
    .filter((entry) => /^\d+$/.test(entry.name))
    .map((entry) => readStat(Number(entry.name)))
    .filter((process) => process !== undefined);
  const below: Process[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const process of all) {
      if (parents.has(process.parent) && !parents.has(process.pid)) {
        parents.add(process.pid);
        below.push(process);
        grew = true;
      }
    }
  }
  return below;
}

function alive(process: Process): boolean {
  return readStat(process.pid)?.started === process.started;
}

/**
 * tests/fixtures/child_spawner.ts run by `deno test`, once its children are
 * up: `children` lists them. Disposing kills the run and any child left.
 */
async function startRun(only: "service" | "all") {
  const [program, args] = dieWithParent(Deno.execPath(), [
    "test",
    "-A",
    "--no-check",
    "tests/fixtures/child_spawner.ts",
  ]);
  const runner = new Deno.Command(program, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", CHILDREN: only },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(runner.stderr).text();
  const stdout = runner.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let children: Process[] = [];
  const run = {
    get children() {
      return children;
    },
    kill: (signal: Deno.Signal) => runner.kill(signal),
    async [Symbol.asyncDispose]() {
      try {
        runner.kill("SIGKILL");
      } catch {
        // It has exited.
      }
      await stdout.cancel();
      await runner.status;
      await stderr;
      for (const child of children.filter(alive)) {
        Deno.kill(child.pid, "SIGKILL");
      }
    },
  };
  try {
    await readTextUntil(
      stdout,
      (text) => text.includes("children started"),
      "the run's children to start",
      // A service, a limited one, Redis, nginx, the serve task: seconds each
      // on a busy machine.
      { timeoutMs: 90_000 },
    );
  } catch (error) {
    await run[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}: ${await stderr}`);
  }
  children = descendants(runner.pid);
  return run;
}

/** Waits until none of `children` runs, 20 s at most. */
async function allExit(children: Process[]) {
  try {
    // The serve task ends its workers on the SIGTERM it gets: a drain.
    await until(() => !children.some(alive), "the children to exit", {
      timeoutMs: 20_000,
    });
  } catch (error) {
    const left = children.filter(alive).map((child) =>
      `${child.name} ${child.pid} (parent ${readStat(child.pid)?.parent})`
    );
    throw new Error(`${(error as Error).message}: still running ${left}`);
  }
}

Deno.test("the children a test run started die with it when it is killed", async (t) => {
  await t.step(
    "SIGKILL: the services, the serve task, nginx and Redis",
    async () => {
      await using run = await startRun("all");
      const names = run.children.map((child) => child.name).sort();
      // startService, spawnLimited, `deno task serve` and its `deno serve`.
      assert.equal(
        names.filter((name) => name === "deno").length,
        4,
        `${names}`,
      );
      assert.ok(names.includes("nginx"), `${names}`);
      assert.ok(names.includes("redis-server"), `${names}`);
      run.kill("SIGKILL");
      await allExit(run.children);
    },
  );

  await t.step("SIGTERM: the service", async () => {
    await using run = await startRun("service");
    assert.deepEqual(run.children.map((child) => child.name), ["deno"]);
    run.kill("SIGTERM");
    await allExit(run.children);
  });
});
