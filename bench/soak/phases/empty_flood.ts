/**
 * Empty-message flood: 4 fresh addresses × 8 clients writing batches of 1024
 * empty text messages and never reading; half to plain /echo (the backlog
 * check counts bytes, and these have none), half to /echo?delay=10000 (each
 * queued message is charged 64 bytes).
 *
 * @module
 */
import { clientFrame } from "../../wire.ts";
import { repeat } from "../shared.ts";
import { neverReads } from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

const EMPTY_BATCH = repeat(clientFrame(0x1, new Uint8Array(0)), 1024);

/** The empty-message flood phase. */
export const emptyFlood: HostilePhase = {
  name: "empty_flood",
  block: 5,
  start(ctx) {
    ctx.flock(ctx.fresh(4), 8, 500, (a) =>
      neverReads(
        ctx.run,
        ctx.port,
        a,
        Number(a.split(".")[3]) % 2 ? "/echo" : "/echo?delay=10000",
        EMPTY_BATCH,
      ));
  },
};
