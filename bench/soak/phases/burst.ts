/**
 * THE BURST: 40 addresses (127.0.1.1-40) × 32 raw clients sending 64 KiB
 * binary frames to /echo as fast as they can and never reading. The cycle
 * holds it for the plan's `burstHoldMs`, then checks that a new client is
 * admitted (`admission.ts`).
 *
 * @module
 */
import { FLOOD_FRAME, neverReads } from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

/** The burst phase; it opens every cycle. */
export const burst: HostilePhase = {
  name: "burst",
  block: 1,
  start(ctx) {
    ctx.flock(
      ctx.range(1, 40),
      32,
      1000,
      (a) => neverReads(ctx.run, ctx.port, a, "/echo", FLOOD_FRAME),
    );
  },
};
