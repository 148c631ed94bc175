/**
 * `deno run -A bench/idle_split.ts [--rounds 3] [--counts 100,1000] [--no-v8-flags]`: where
 * the RSS that idle connections add goes, in the reference and in the
 * service. Each round starts each server as `deno task bench` does (pinned
 * to CPU 0 where it can be, the service with the start task's flags and the
 * raised limits of `run/targets.ts`), opens idle WebSockets up to each count
 * (the newest echoes once, so the server has caught up) and splits the RSS
 * added from one count to the next by mapping (`rssByKind`): the main
 * thread's malloc heap, other threads' malloc arenas, the rest of anonymous
 * memory (V8's heap pages) and file pages. Prints the medians in KiB per
 * connection added.
 *
 * Why: the figure at 1,000 of `deno task bench` was 1.16-1.18 while the
 * service's own objects add under 1 KiB per connection; this split showed
 * the excess in one compiler thread's arena, a one-off (BENCHMARKS.md, issue
 * #23, eighth round).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { echoOnce, openIdle, type RawSocket } from "./load.ts";
import { loadAverage, type RssByKind, rssByKind } from "./run/process_stats.ts";
import { median } from "./run/figures.ts";
import {
  canPin,
  killRunning,
  SMALL,
  start,
  stop,
  stopServersOnSignal,
  type Target,
  TARGETS,
} from "./run/targets.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    counts: { type: "string", default: "100,1000" },
    // The service as Deno Deploy runs it: without the start task's V8 flags.
    "no-v8-flags": { type: "boolean", default: false },
  },
});
const rounds = Number(args.values.rounds);
const counts = args.values.counts.split(",").map(Number);
if (
  !Number.isInteger(rounds) || rounds < 1 || counts.length < 2 ||
  counts.some((count, i) =>
    !Number.isInteger(count) || count <= (counts[i - 1] ?? 0)
  )
) {
  console.error(
    "idle_split: --rounds must be a positive integer and --counts two or more increasing counts",
  );
  Deno.exit(2);
}

const KINDS: (keyof RssByKind)[] = [
  "mainHeap",
  "threadArenas",
  "otherAnonymous",
  "file",
];
const LABELS: Record<keyof RssByKind, string> = {
  mainHeap: "main thread's malloc heap",
  threadArenas: "other threads' malloc arenas",
  otherAnonymous: "other anonymous (V8 heap pages)",
  file: "file pages (the deno binary)",
};

const pinned = await canPin();
/** KiB per connection added: [range][kind or "all"][target] -> samples. */
const samples = new Map<string, Record<Target, number[]>>();
function record(key: string, target: Target, value: number) {
  if (!samples.has(key)) samples.set(key, { reference: [], service: [] });
  samples.get(key)![target].push(value);
}

stopServersOnSignal();
const loadBefore = loadAverage();
try {
  for (let round = 0; round < rounds; round++) {
    for (const target of TARGETS) {
      const server = await start(target, {
        pinned,
        noV8Flags: args.values["no-v8-flags"],
      });
      const sockets: RawSocket[] = [];
      try {
        let before: RssByKind | undefined;
        let open = 0;
        for (const count of counts) {
          await openIdle(server.port, sockets, count);
          await echoOnce(sockets.at(-1)!, SMALL);
          const now = rssByKind(server.child.pid);
          if (before) {
            const range = `${open} -> ${count}`;
            let all = 0;
            for (const kind of KINDS) {
              const added = (now[kind] - before[kind]) / (count - open);
              record(`${range}|${kind}`, target, added);
              all += added;
            }
            record(`${range}|all`, target, all);
          }
          before = now;
          open = count;
        }
      } finally {
        for (const { conn } of sockets) conn.close();
        await stop(server);
      }
    }
  }
} finally {
  killRunning();
}

console.log(
  `Load average ${loadBefore} before, ${loadAverage()} after; ${rounds} rounds; ${
    pinned ? "servers pinned to CPU 0" : "not pinned"
  }${
    args.values["no-v8-flags"] ? "; service without V8 flags" : ""
  }. KiB per connection added (medians).\n`,
);
console.log("| Range | Where | Reference | Service | Service - reference |");
console.log("| --- | --- | --- | --- | --- |");
for (const [key, { reference, service }] of samples) {
  const [range, kind] = key.split("|") as [string, keyof RssByKind | "all"];
  const [r, s] = [median(reference), median(service)];
  console.log(
    `| ${range} | ${kind === "all" ? "**all**" : LABELS[kind]} | ${
      r.toFixed(1)
    } | ${s.toFixed(1)} | ${(s - r).toFixed(1)} |`,
  );
}
