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
