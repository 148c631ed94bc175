/**
 * What the overload watch reads of the CPU: the time this process has used,
 * and the share of one core it can expect on this machine now. Together
 * they tell a process busy with frames the app never sees (it burns what
 * it can get) from one whose timers are late because the machine is loaded
 * (it burns almost nothing).
 *
 * @module
 */

/** What `cpuUsage()` returns: microseconds of CPU time. */
type CpuUsage = { user: number; system: number };

/**
 * Deno's own CPU-time reading, which `node:process`'s `cpuUsage()` calls
 * (Deno 2.9.6; the same figures, read side by side). It is not in Deno's
 * type declarations, hence the cast; where it is missing, Deno's `process`
 * global is used. Importing `node:process` instead loads Node's process
 * module at every start: 0.39x of a bare echo's CPU from spawn to first
 * echo and 4 MiB of RSS (measured side by side, BENCHMARKS.md #23).
 */
const denoCpuUsage = (Deno as unknown as { cpuUsage?: () => CpuUsage })
  .cpuUsage;

/** The CPU time this process has used, user plus system, in ms. */
export function processCpuMs(): number {
  const { user, system } = denoCpuUsage?.() ??
    (globalThis as unknown as { process: { cpuUsage(): CpuUsage } }).process
      .cpuUsage();
  return (user + system) / 1000;
}

let loadavgRefused = false;

/**
 * The share of one core this process can expect: cores / the 1-minute load
 * average, at most 1. Undefined where the load average cannot be read
 * (without `--allow-sys=loadavg`; on Deno Deploy), once and for good.
 */
export function fairShare(): number | undefined {
  if (loadavgRefused) return undefined;
  try {
    const [load = 0] = Deno.loadavg();
    const cores = navigator.hardwareConcurrency || 1;
    return Math.min(1, cores / Math.max(load, 1e-9));
  } catch {
    loadavgRefused = true;
    return undefined;
  }
}
