/**
 * What `deno task bench` reads of a running server: RSS and its peak, CPU
 * time (from /proc), how many connections the memory guard shed, and the
 * machine's load average.
 *
 * @module
 */

/** The 1-minute load average: how busy the machine was around the run. */
export function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ")[0]!;
}

/** Resident set size of a process, in KiB. */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/**
 * Peak RSS of a process while `run` runs, in KiB: the kernel's high-water
 * mark (VmHWM), reset first through `/proc/<pid>/clear_refs`; where that
 * write is not allowed, the highest of samples taken every 5 ms.
 */
export async function peakRssKiB<T>(
  pid: number,
  run: () => Promise<T>,
): Promise<{ peakKiB: number; result: T }> {
  let reset = true;
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    reset = false;
  }
  let sampled = rssKiB(pid);
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, rssKiB(pid));
  }, 5);
  try {
    const result = await run();
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
    return { peakKiB: reset ? hwm : sampled, result };
  } finally {
    clearInterval(sampler);
  }
}

/** Connections the service's memory guard has shed (closed with 1013) so far. */
export async function shedCount(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  const { memory } = await response.json();
  return memory.shed.memory_budget + memory.shed.rss;
}

/** User plus system CPU seconds of a process. */
export function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`)
    .split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15, in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU time a process has run so far, in ms, summed over its threads from
 * `schedstat` of each thread in `/proc/<pid>/task/` (nanoseconds, finer than
 * `/proc/<pid>/stat`'s 10 ms ticks). A thread that ends while being read is left out.
 */
export function threadCpuMs(pid: number): number {
  let nanoseconds = 0;
  for (const thread of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const schedstat = Deno.readTextFileSync(
        `/proc/${pid}/task/${thread.name}/schedstat`,
      );
      nanoseconds += Number(schedstat.split(" ")[0]);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return nanoseconds / 1e6;
}

/** Resident memory of a process by where it lives, in KiB (`rssByKind`). */
export interface RssByKind {
  /** The main thread's malloc heap (`[heap]`): Deno's sockets, buffers. */
  mainHeap: number;
  /**
   * glibc's malloc arenas of other threads: 64 MiB reservations, each a
   * readable part at a 64 MiB boundary followed by an inaccessible rest (V8's
   * compiler threads, Tokio's).
   */
  threadArenas: number;
  /** Every other anonymous mapping: V8's heap pages (256 KiB each), stacks. */
  otherAnonymous: number;
  /** Pages of files: the `deno` binary's code and data, mostly. */
  file: number;
}

const ARENA_BYTES = 64 * 2 ** 20;

/**
 * Splits a process's RSS by mapping (`/proc/<pid>/smaps`), so that growth
 * can be told apart: memory Deno allocates per socket lands in `mainHeap`,
 * a compiler thread's working memory in `threadArenas`, the JS heap in
 * `otherAnonymous` (BENCHMARKS.md, issue #23, eighth round).
 */
export function rssByKind(pid: number): RssByKind {
  const mappings: {
    start: number;
    end: number;
    name: string;
    rssKiB: number;
  }[] = [];
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(
      line,
    );
    if (header) {
      mappings.push({
        start: parseInt(header[1]!, 16),
        end: parseInt(header[2]!, 16),
        // An inode of 0 and no name: anonymous.
        name: header[3] === "0" ? header[4]! : header[4] || "file",
        rssKiB: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss && mappings.length > 0) mappings.at(-1)!.rssKiB = Number(rss[1]);
  }
  const kinds: RssByKind = {
    mainHeap: 0,
    threadArenas: 0,
    otherAnonymous: 0,
    file: 0,
  };
  for (let i = 0; i < mappings.length; i++) {
    const mapping = mappings[i]!;
    if (mapping.name === "[heap]") kinds.mainHeap += mapping.rssKiB;
    else if (mapping.name !== "") {
      if (!mapping.name.startsWith("[")) kinds.file += mapping.rssKiB;
      else kinds.otherAnonymous += mapping.rssKiB;
    } else if (isArena(mappings, i)) kinds.threadArenas += mapping.rssKiB;
    else kinds.otherAnonymous += mapping.rssKiB;
  }
  return kinds;
}

/** An anonymous mapping at a 64 MiB boundary that, with the ones right after it, spans exactly 64 MiB. */
function isArena(
  mappings: { start: number; end: number; name: string }[],
  at: number,
): boolean {
  const first = mappings[at]!;
  if (first.start % ARENA_BYTES !== 0) return false;
  let end = first.end;
  for (let i = at + 1; end - first.start < ARENA_BYTES; i++) {
    const next = mappings[i];
    if (!next || next.start !== end || next.name !== "") return false;
    end = next.end;
  }
  return end - first.start === ARENA_BYTES;
}
