/**
 * Cold start measured in alternating runs: each run starts every variant
 * once, one right after the other (about 0.1 s apart), in the order given
 * in odd runs and the reverse in even ones (so no variant always starts
 * first), and times each from spawn to its first echo. This VM's speed swings by up to 1.85x over
 * seconds with the load below 1.5 (BENCHMARKS.md nineteenth round, cold2),
 * so only starts taken side by side, many times, give a ratio: three starts
 * 30 s apart read 1.04-1.47 for the same code. Both `deno task bench` and
 * `deno task bench:cold` measure cold start here.
 *
 * @module
 */
import { rssKiB, threadCpuMs } from "./process_stats.ts";
import { start, stop, type Target } from "./targets.ts";

/** One thing to start: the reference, the service, or the service's flags on another file. */
export interface Variant {
  name: string;
  target: Target;
  /** A file run in place of the service's bundle, with the same flags. */
  entry?: string;
  /** Started without the start task's `--v8-flags` (as Deno Deploy runs it). */
  noV8Flags?: boolean;
}

/** What each measured start of one variant gave, in run order. */
export interface ColdStarts {
  /** Spawn to the first echo, ms. */
  wall: number[];
  /** The server's CPU until its first echo, all threads (schedstat), ms. */
  cpu: number[];
  /** The server's RSS at its first echo, MiB. */
  rss: number[];
}

/**
 * Starts each of `variants` in turn, `runs` times over, after one
 * unmeasured start of each (so every measured start finds a warm module
 * cache), and returns each variant's figures by name. Each server is killed
 * once it has echoed. Pass `pinned` when servers should run on CPU 0, as in
 * the rest of the bench.
 *
 * @throws {Error} If a server does not echo (from `start()`).
 * @example
 * ```ts ignore
 * const starts = await coldStartPairs(
 *   [{ name: "reference", target: "reference" }, { name: "service", target: "service" }],
 *   { runs: 15, pinned: true },
 * );
 * ```
 */
export async function coldStartPairs(
  variants: Variant[],
  options: { runs: number; pinned: boolean },
): Promise<Map<string, ColdStarts>> {
  const figures = new Map(
    variants.map((v) => [v.name, { wall: [], cpu: [], rss: [] } as ColdStarts]),
  );
  for (let run = 0; run <= options.runs; run++) {
    const order = run % 2 === 1 ? variants : [...variants].reverse();
    for (const variant of order) {
      let cpu = 0;
      let rss = 0;
      const server = await start(variant.target, {
        pinned: options.pinned,
        ...(variant.entry === undefined ? {} : { entry: variant.entry }),
        ...(variant.noV8Flags ? { noV8Flags: true } : {}),
        atFirstEcho(child) {
          cpu = threadCpuMs(child.pid);
          rss = rssKiB(child.pid) / 1024;
        },
      });
      await stop(server, { kill: true });
      if (run === 0) continue;
      const row = figures.get(variant.name)!;
      row.wall.push(server.coldStartMs);
      row.cpu.push(cpu);
      row.rss.push(rss);
    }
  }
  return figures;
}
