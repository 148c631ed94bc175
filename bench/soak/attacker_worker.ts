/**
 * The attacker worker: runs the hostile phases the main thread asks for, one
 * at a time, so their work does not delay the bystanders' clock reads on the
 * main thread (both share the machine's cores).
 *
 * @module
 */
import { address } from "./shared.ts";
import type { FromAttacker, ToAttacker } from "./attacker.ts";
import { agent, PhaseRun } from "./phases/agent.ts";
import { phaseNamed } from "./phases/mod.ts";
import type { PhaseContext } from "./phases/phase.ts";

let current: PhaseRun | undefined;

/** Runs one hostile phase for `holdMs`, then makes every client leave. */
async function runPhase(
  message: Extract<ToAttacker, { type: "run" }>,
): Promise<FromAttacker> {
  const { cycle, port, holdMs } = message;
  const phase = phaseNamed(message.phase);
  const run = new PhaseRun(holdMs);
  current = run;
  const tasks: Promise<void>[] = [];
  const range = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => address(phase.block, from + i));
  const context: PhaseContext = {
    run,
    port,
    cycle,
    range,
    fresh: (n) => range((cycle * n) % 240 + 1, n),
    flock(addresses, perAddress, rampMs, make) {
      const total = addresses.length * perAddress;
      let i = 0;
      for (let client = 0; client < perAddress; client++) {
        for (const localAddress of addresses) {
          tasks.push(agent(run, (i++ * rampMs) / total, make(localAddress)));
        }
      }
    },
    spawn: (task) => void tasks.push(task),
    detail: {},
  };
  phase.start(context);
  await new Promise((resolve) =>
    run.signal.addEventListener("abort", resolve, { once: true })
  );
  await Promise.all(tasks);
  current = undefined;
  return {
    type: "done",
    phase: phase.name,
    cycle,
    counts: run.counts,
    detail: context.detail,
  };
}

// This module is type-checked as a window script; in the worker, `self` is
// the worker scope.
const scope = self as unknown as {
  onmessage: (event: MessageEvent<ToAttacker>) => void;
  postMessage(message: FromAttacker): void;
};
scope.onmessage = async (event) => {
  const message = event.data;
  if (message.type === "abort") return current?.end();
  scope.postMessage(await runPhase(message));
};
