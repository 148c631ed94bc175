/**
 * `deno task bench --scale`: the scale curve (`bench/scale.ts`) for both
 * targets, alternating over the rounds, printed as a table and written to
 * `bench/results/`.
 *
 * @module
 */
import {
  raiseFdLimit,
  SCALE_STEPS,
  type ScaleCurve,
  scaleCurve,
} from "../scale.ts";
import { format } from "./figures.ts";
import { loadAverage } from "./process_stats.ts";
import {
  killRunning,
  SETTLE_MS,
  start,
  stop,
  type Target,
  TARGETS,
} from "./targets.ts";

/** `--scale`: the curve for both targets, alternating over the rounds. */
export async function runScale(
  options: { rounds: number; pinned: boolean; loadBefore: string },
): Promise<never> {
  const { rounds, pinned, loadBefore } = options;
  const largest = SCALE_STEPS.at(-1)!;
  const limit = await raiseFdLimit(2 * largest + 10_000);
  // The service keeps 10% of the limit for other descriptors; the probe
  // and the bystander need a few hundred more.
  const fits = Math.floor((limit * 0.9 - 500) / 1000) * 1000;
  const steps = SCALE_STEPS.filter((open) => open <= fits);
  if (steps.length < SCALE_STEPS.length) {
    if (fits > (steps.at(-1) ?? 0)) steps.push(fits);
    console.error(
      `bench: the open-file limit is ${limit} and prlimit could not raise it (it needs root or CAP_SYS_RESOURCE): ${
        SCALE_STEPS.filter((open) => open > fits).join(", ")
      } skipped, ${fits} is the largest step that fits`,
    );
  }
  const env = {
    MAX_CONNECTIONS: String(largest + 10_000),
    MAX_RSS_BYTES: String(8 * 2 ** 30),
  };
  const curves: Array<{ target: Target; round: number; curve: ScaleCurve }> =
    [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const target of TARGETS) {
        console.error(`bench: scale round ${round}/${rounds}: ${target}`);
        const server = await start(target, { pinned, extraEnv: env });
        try {
          // The RSS base is read after the service's watchdog thread has
          // started (300 ms after listening, +13-16 MiB): read at once, the
          // first step charged the thread to its 1,000 connections (45.9
          // KiB each against the reference's 27.9, 7 December).
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
          curves.push({
            target,
            round,
            curve: await scaleCurve(server, steps),
          });
        } finally {
          await stop(server);
        }
      }
    }
  } finally {
    killRunning();
  }
  const lines = [
    `Load average (1 min) ${loadBefore} before the run, ${loadAverage()} after it.`,
    `Open-file limit ${limit}${
      steps.length < SCALE_STEPS.length || steps.at(-1) !== largest
        ? ` (could not be raised: steps above ${fits} skipped)`
        : ""
    }; service limits as the main run, plus ${
      Object.entries(env).map(([name, value]) => `${name}=${value}`).join(", ")
    }.`,
    "",
    "| Target | Round | Open | RSS MiB | KiB per connection | Handshake p99 ms | Bystander echo p99 ms | Ramp s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const { target, round, curve } of curves) {
    for (const step of curve.steps) {
      lines.push(
        `| ${target} | ${round} | ${step.open.toLocaleString("en")} | ${
          format(step.rssMiB)
        } | ${format(step.kibPerConnection)} | ${
          format(step.handshakeP99Ms)
        } | ${format(step.bystanderP99Ms)} | ${format(step.rampSeconds)} |`,
      );
    }
    if (curve.stoppedAt) {
      lines.push(
        `| ${target} | ${round} | stopped at ${curve.stoppedAt.open}: ${curve.stoppedAt.reason} | | | | | |`,
      );
    }
  }
  console.log(lines.join("\n"));
  // bench/results/, beside the main run's (ignored by git, fmt and lint).
  const results = new URL("../results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = new URL(`scale-${stamp}.json`, results);
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), limit, env, curves },
      null,
      2,
    ) +
      "\n",
  );
  console.error(`bench: wrote ${file.pathname}`);
  Deno.exit(0);
}
