/**
 * `/close` invalid-command flood: 4 fresh addresses × 8 clients writing
 * batches of 256 commands "0" (each gets a text refusal of about 130 bytes)
 * and never reading.
 *
 * @module
 */
import { clientFrame } from "../../wire.ts";
import { repeat } from "../shared.ts";
import { neverReads } from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

const BAD_CLOSE_BATCH = repeat(
  clientFrame(0x1, new TextEncoder().encode("0")),
  256,
);

/** The `/close` flood phase. */
export const closeFlood: HostilePhase = {
  name: "close_flood",
  block: 4,
  start(ctx) {
    ctx.flock(
      ctx.fresh(4),
      8,
      500,
      (a) => neverReads(ctx.run, ctx.port, a, "/close", BAD_CLOSE_BATCH),
    );
  },
};
