/**
 * The overload watch reads the process's CPU time without loading
 * `node:process` at start-up; the figure must be the one Node's
 * `process.cpuUsage()` gives.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { processCpuMs } from "../../lib/start/cpu_share.ts";

Deno.test("processCpuMs() reads the CPU time node:process's cpuUsage() reads, and it grows with work", () => {
  const node = process.cpuUsage();
  const ours = processCpuMs();
  const nodeMs = (node.user + node.system) / 1000;
  // Read one after the other: at most the work between the two reads apart.
  assert.ok(ours >= nodeMs, `${ours} ms read after ${nodeMs} ms`);
  assert.ok(ours - nodeMs < 50, `${ours} ms vs ${nodeMs} ms`);
  // Work until the reading moves; a busy machine may give it little CPU.
  const before = processCpuMs();
  const deadline = performance.now() + 10_000;
  while (processCpuMs() <= before) {
    assert.ok(performance.now() < deadline, "no CPU time counted in 10 s");
  }
});
