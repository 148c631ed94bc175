/**
 * Idle TCP: 4 addresses × 50 connections that never send a request; each
 * ends when the server closes it.
 *
 * @module
 */
import net from "node:net";
import { errorOutcome } from "../../wire.ts";
import { count, HOST } from "../shared.ts";
import type { PhaseRun, Session } from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

function idleClient(
  run: PhaseRun,
  port: number,
  localAddress: string,
): Session {
  return () =>
    new Promise((resolve) => {
      const socket = net.connect({ host: HOST, port, localAddress });
      run.sockets.add(socket);
      const openedAt = performance.now();
      let why = "closed";
      let received = 0;
      socket.on("connect", () => count(run.counts, "connected"));
      socket.on("data", (chunk: Uint8Array) => received += chunk.length);
      socket.on("error", (error) => why = errorOutcome(error));
      socket.once("close", () => {
        run.sockets.delete(socket);
        if (!run.over) {
          why = `closed by server after ${
            Math.round((performance.now() - openedAt) / 1000)
          } s${received ? " with a response" : ""}`;
        }
        resolve(why);
      });
      if (run.over) socket.destroy();
    });
}

/** The idle-TCP phase. */
export const idleTcp: HostilePhase = {
  name: "idle_tcp",
  block: 3,
  start(ctx) {
    ctx.flock(
      ctx.range(1, 4),
      50,
      500,
      (a) => idleClient(ctx.run, ctx.port, a),
    );
  },
};
