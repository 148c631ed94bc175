/**
 * `deno run -A bench/cold_start.ts [--runs 11] [--variant NAME=FILE]...`:
 * cold start side by side. Each run starts the bare Deno echo
 * (`bench/reference_server.ts`), the service as `deno task start` runs it
 * (the bundle, with the task's flags) and each `--variant` (another file run
 * with the same flags, e.g. a copy of an older bundle), one after the
 * other, and measures each from spawn to its first echo: the wall time, the
 * server's CPU time until then (all threads, from schedstat; read before the
 * client closes, so the close is not in it) and its RSS.
 * One unmeasured start of each comes first, so every run finds a warm
 * module cache. Prints the medians and their ratio to the bare echo's, with
 * the load average before and after.
 *
 * The starts are taken side by side (`run/cold_pairs.ts`, which `deno task
 * bench` uses too): on this VM the machine's speed swings by itself, so only
 * the ratio of starts run together means anything, and CPU time tracks wall
 * time within a few ms (no steal accounting, BENCHMARKS.md nineteenth
 * round). Servers run pinned to CPU 0 and this client to CPU 1 when the
 * machine has two cores and `taskset`, as in `deno task bench`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadAverage } from "./run/process_stats.ts";
import { median } from "./run/figures.ts";
import { coldStartPairs, type Variant } from "./run/cold_pairs.ts";
import { canPin, killRunning, stopServersOnSignal } from "./run/targets.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "11" },
    variant: { type: "string", multiple: true, default: [] },
  },
});
const runs = Number(args.values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  console.error(
    `cold_start: --runs must be an integer 1-100, got ${args.values.runs}`,
  );
  Deno.exit(2);
}

const variants: Variant[] = [
  { name: "reference", target: "reference" },
  { name: "service", target: "service" },
  ...args.values.variant.map((spec): Variant => {
    const [name, entry] = spec.split("=");
    if (!name || !entry) {
      console.error(`cold_start: --variant must be NAME=FILE, got ${spec}`);
      Deno.exit(2);
    }
    return { name, target: "service", entry };
  }),
];

const pinned = await canPin();
// The client to CPU 1, as `deno task bench` does: its 1 ms connect loop then
// never shares CPU 0 with the server it times.
if (pinned) {
  await new Deno.Command("taskset", {
    args: ["-a", "-c", "-p", "1", String(Deno.pid)],
    stdout: "null",
  }).output();
}
stopServersOnSignal();

const loadBefore = loadAverage();
console.error(
  `cold_start: ${runs} runs of ${variants.map((v) => v.name).join(", ")}${
    pinned ? ", pinned to CPU 0" : ""
  }; load average ${loadBefore}`,
);
const figures = await coldStartPairs(variants, { runs, pinned })
  .finally(killRunning);

const reference = figures.get("reference")!;
const lines = [
  `Load average ${loadBefore} before, ${loadAverage()} after; ${runs} runs${
    pinned ? ", pinned to CPU 0" : ""
  }; medians (× the bare echo).`,
  "",
  "| Variant | Wall ms | Server CPU ms | RSS MiB |",
  "| --- | --- | --- | --- |",
];
for (const [name, row] of figures) {
  const cell = (values: number[], of: number[], digits: number) =>
    `${median(values).toFixed(digits)} (${
      (median(values) / median(of)).toFixed(2)
    })`;
  lines.push(
    `| ${name} | ${cell(row.wall, reference.wall, 0)} | ${
      cell(row.cpu, reference.cpu, 0)
    } | ${cell(row.rss, reference.rss, 1)} |`,
  );
}
console.log(lines.join("\n"));
