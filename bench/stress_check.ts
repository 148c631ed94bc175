/**
 * `deno task stress [--runs N] [--connections N] [--no-load]`: the stress
 * check of issue #22. Runs the full `deno task test` N times in a row
 * (default 5) while the machine is loaded the way the newcomer's run was: a
 * CPU hog (`yes > /dev/null`) and `stress_load.ts` (a few thousand loopback
 * connections opening, sending and resetting against a bare Deno echo of its
 * own). Prints one line per run (pass or fail, time, the suite's own
 * `N passed | M failed` line and the failing tests) and a markdown table at
 * the end; each run's whole output goes to `test-artifacts/stress/run-N.log`
 * (its load's to `load-N.log`).
 * Exits 0 only if every run passed. Never retries a failed test: a failure
 * is reported as it happened.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ROOT } from "./service.ts";

/** A run that takes longer than this is stopped and counted as failed. */
const RUN_TIMEOUT_MS = 25 * 60_000;
/** How long the load may take to get its connections up. */
const LOAD_READY_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    connections: { type: "string", default: "3000" },
    "no-load": { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  console.error(
    `stress: Invalid --runs "${values.runs}": expected an integer 1-20`,
  );
  Deno.exit(2);
}

const logs = `${ROOT}/test-artifacts/stress`;
await Deno.mkdir(logs, { recursive: true });
const decoder = new TextDecoder();
const started: Deno.ChildProcess[] = [];

/** Starts the CPU hog, which runs until the end. */
function startHog(): void {
  // `yes > /dev/null`: one core busy writing nothing.
  started.push(
    new Deno.Command("yes", { stdout: "null", stderr: "null" }).spawn(),
  );
}

/**
 * Starts the network load for run `run` (stress_load.ts stops by itself
 * after an hour at most, shorter than five runs on a busy machine: each run
 * gets its own, for as long as a run may take); resolves once it is up.
 */
async function startNetworkLoad(run: number): Promise<Deno.ChildProcess> {
  const load = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "bench/stress_load.ts",
      "--connections",
      values.connections,
      "--seconds",
      String(RUN_TIMEOUT_MS / 1000 + 60),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  started.push(load);
  const lines = load.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const { promise: ready, resolve } = Promise.withResolvers<void>();
  // Echo the load's progress lines to a log; note when it is ready.
  (async () => {
    const file = await Deno.open(`${logs}/load-${run}.log`, {
      write: true,
      create: true,
      truncate: true,
    });
    const encoder = new TextEncoder();
    try {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        await file.write(encoder.encode(value));
        if (value.includes("stress_load: ready")) resolve();
      }
    } finally {
      file.close();
    }
  })();
  const timer = setTimeout(resolve, LOAD_READY_TIMEOUT_MS);
  await ready;
  clearTimeout(timer);
  return load;
}

/** Stops one run's network load and waits for it to exit. */
async function stopNetworkLoad(load: Deno.ChildProcess): Promise<void> {
  try {
    load.kill("SIGTERM");
  } catch {
    // It has exited already.
  }
  await load.status;
  started.splice(started.indexOf(load), 1);
}

/** What one `deno task test` run gave. */
interface RunResult {
  run: number;
  passed: boolean;
  seconds: number;
  summary: string;
  failures: string[];
}

/** The suite's `ok | 170 passed (400 steps) | 0 failed` line and its failing tests. */
function readOutput(text: string): { summary: string; failures: string[] } {
  // deno test colours its output unless NO_COLOR is set; strip what is left.
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
  const summary = plain.match(/^(ok|FAILED) \| .*$/m)?.[0] ??
    plain.trim().split("\n").at(-1) ?? "";
  const failures = new Set<string>();
  const at = plain.search(/^\s*FAILURES\s*$/m);
  if (at >= 0) {
    for (const line of plain.slice(at).split("\n").slice(1)) {
      const match = /^(.+?) => /.exec(line);
      if (match) failures.add(match[1]!.trim());
    }
  }
  return { summary, failures: [...failures] };
}

/**
 * Runs `deno task test` once, its output streamed into `run-N.log` as it
 * comes (so a hung test can be read while it hangs). It runs in a process
 * group of its own (setsid): past {@link RUN_TIMEOUT_MS} the whole group is
 * killed, servers a test started included.
 */
async function runSuite(run: number): Promise<RunResult> {
  const began = performance.now();
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "task", "test"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // The group has exited.
    }
  }, RUN_TIMEOUT_MS);
  const log = await Deno.open(`${logs}/run-${run}.log`, {
    write: true,
    create: true,
    truncate: true,
  });
  let text = "";
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await log.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    copy(child.stdout),
    copy(child.stderr),
  ]);
  clearTimeout(timer);
  log.close();
  const { summary, failures } = readOutput(text);
  return {
    run,
    passed: status.success,
    seconds: Math.round((performance.now() - began) / 1000),
    summary: killed
      ? `killed after ${
        RUN_TIMEOUT_MS / 60_000
      } min; last lines in run-${run}.log`
      : summary,
    failures,
  };
}

const stopAll = () => {
  for (const child of started) {
    try {
      child.kill("SIGTERM");
    } catch {
      // It has exited already.
    }
  }
};
Deno.addSignalListener("SIGINT", () => {
  stopAll();
  Deno.exit(130);
});

const results: RunResult[] = [];
try {
  if (!values["no-load"]) {
    console.error(
      `stress: starting yes > /dev/null, and for each run ${values.connections} churning loopback connections`,
    );
    startHog();
  }
  for (let run = 1; run <= runs; run++) {
    const load = values["no-load"] ? undefined : await startNetworkLoad(run);
    const result = await runSuite(run);
    if (load) await stopNetworkLoad(load);
    results.push(result);
    console.error(
      `stress: run ${run}/${runs}: ${
        result.passed ? "PASS" : "FAIL"
      } in ${result.seconds} s: ${result.summary}${
        result.failures.length ? `; failed: ${result.failures.join("; ")}` : ""
      }`,
    );
  }
} finally {
  stopAll();
  await Promise.allSettled(started.map((child) => child.status));
}

const load = values["no-load"]
  ? "no load"
  : `yes > /dev/null + ${values.connections} loopback connections (bench/stress_load.ts)`;
console.log(
  [
    `# Stress check: ${
      results.filter((r) => r.passed).length
    } of ${runs} runs of deno task test passed`,
    "",
    `${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, under ${load}; logs in test-artifacts/stress/.`,
    "",
    "| Run | Result | Seconds | Suite | Failed tests |",
    "| --- | --- | --- | --- | --- |",
    ...results.map((r) =>
      `| ${r.run} | ${
        r.passed ? "pass" : "**fail**"
      } | ${r.seconds} | ${r.summary} | ${r.failures.join("; ") || "–"} |`
    ),
  ].join("\n"),
);
Deno.exit(results.every((r) => r.passed) ? 0 : 1);
