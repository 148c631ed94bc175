/**
 * The hostile phases of one soak cycle, in order. The first is the burst,
 * held for the plan's `burstHoldMs` and followed by the admission check; the
 * others last `phaseMs` each, with a gap after each.
 *
 * Adding a phase: write `phases/<name>.ts` exporting a
 * {@linkcode HostilePhase} (with a block of source addresses of its own) and
 * add it to this list. The report's table and the JSON pick it up.
 *
 * @module
 */
import { burst } from "./burst.ts";
import { closeFlood } from "./close_flood.ts";
import { emptyFlood } from "./empty_flood.ts";
import { headSse } from "./head_sse.ts";
import { idleTcp } from "./idle_tcp.ts";
import type { HostilePhase } from "./phase.ts";
import { slowReaders } from "./slow_readers.ts";

/** Every hostile phase, in cycle order; the burst first. */
export const HOSTILE_PHASES: readonly HostilePhase[] = [
  burst,
  slowReaders,
  idleTcp,
  closeFlood,
  emptyFlood,
  headSse,
];

/** Blocks of source addresses that are not a hostile phase's: well-behaved clients (0) and the admission check (7). */
const RESERVED_BLOCKS = [0, 7];

const blocks = new Set<number>(RESERVED_BLOCKS);
for (const phase of HOSTILE_PHASES) {
  if (blocks.has(phase.block) || phase.block < 1 || phase.block > 255) {
    throw new RangeError(
      `Cannot use address block ${phase.block} for phase "${phase.name}": taken or out of 1-255`,
    );
  }
  blocks.add(phase.block);
}

/** The phase named `name`. */
export function phaseNamed(name: string): HostilePhase {
  const phase = HOSTILE_PHASES.find((p) => p.name === name);
  if (!phase) throw new RangeError(`Unknown soak phase "${name}"`);
  return phase;
}
