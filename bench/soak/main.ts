/**
 * `deno task soak [--minutes N] [--quick]`: a long run of well-behaved and
 * hostile clients against the service, started exactly as `deno task start`
 * does (the start task's flags from deno.json, every limit at its default, a
 * free loopback port), watching its memory and its answers (issue #12).
 *
 * Well-behaved clients run the whole time (`clients/`): bystanders (each
 * from its own 127.0.0.x address) send a small text message every 100 ms and
 * time its echo; churn clients connect, echo three messages and leave; SSE
 * clients read three events and leave. Hostile phases (`phases/`, one module
 * each, listed in `phases/mod.ts`) repeat in cycles: THE BURST (40 addresses
 * × 32 raw clients sending 64 KiB binary frames as fast as they can and never
 * reading, held 20 s, then all leave, then the time until a new client from a
 * fresh address is admitted and echoes), slow readers, idle TCP connections
 * that never send a request, `/close` invalid-command floods, empty-message
 * floods and HEAD /sse requests. Hostile clients expect to be refused, closed
 * or reset, and reconnect after a backoff while their phase lasts. They run
 * in a worker (`attacker_worker.ts`).
 *
 * The server's RSS (VmRSS) and `/healthz` are sampled once a second. A
 * markdown summary (`report.ts`) goes to stdout, progress to stderr, and
 * every sample to `bench/results/soak-<time>.json`. Exits 1 if the server
 * died, 2 on a bad argument, 130 on Ctrl-C.
 *
 * `--overload` runs only the attacks of issue #20 instead (`overload.ts`):
 * endless fragments, pong and empty-frame floods, a close never answered,
 * reset upgrades, fragments and empty frames split across connections, each
 * with one and four attackers under `deno task start` and `deno task serve`.
 *
 * All traffic stays on loopback; every loop is bounded in count and time.
 *
 * @module
 */
import { parseSoakArgs, type SoakOptions } from "./plan.ts";
import { summarize } from "./report.ts";
import { runSoak, type SoakResult } from "./run.ts";
import { runOverloadSoak } from "./overload.ts";

/** Writes every sample to `bench/results/soak-<time>[-quick].json`; returns its path. */
async function writeResults(
  result: SoakResult,
  figures: Record<string, unknown>,
): Promise<string> {
  const results = new URL("../results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = new URL(
    `soak-${stamp}${result.quick ? "-quick" : ""}.json`,
    results,
  );
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      date: new Date().toISOString(),
      quick: result.quick,
      minutes: result.minutes,
      plan: result.plan,
      machine: {
        cores: navigator.hardwareConcurrency,
        memTotalKiB: result.memTotalKiB,
        deno: Deno.version.deno,
      },
      server: {
        port: result.port,
        alive: result.alive,
        exit: result.serverExit,
        stderrTail: result.serverStderr,
      },
      summary: figures,
      phases: result.phases,
      admissions: result.admissions,
      rss: result.rss,
      health: result.health,
      wellBehaved: result.well,
      metricsAtEnd: result.metricsAtEnd,
    }) + "\n",
  );
  return file.pathname;
}

/** Runs the soak and returns the exit code. */
async function main(): Promise<number> {
  let options: SoakOptions;
  try {
    options = parseSoakArgs(Deno.args);
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    return 2;
  }
  if (options.overload) {
    // Issue #20's attacks, each against a fresh server (both tasks).
    const { table } = await runOverloadSoak();
    console.log(table);
    return 0;
  }
  const result = await runSoak(options);
  const report = summarize(result);
  console.log(report.markdown);
  const path = await writeResults(result, report.figures);
  console.error(
    `soak: [${result.seconds.toFixed(0).padStart(4)} s] wrote ${path}`,
  );
  if (!result.alive) return 1;
  if (result.interrupted) return 130;
  if (result.workerError) return 1;
  return 0;
}

if (import.meta.main) Deno.exit(await main());
