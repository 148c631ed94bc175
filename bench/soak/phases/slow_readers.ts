/**
 * Slow readers: 4 fresh addresses × 8 clients that read one chunk a second
 * (at most 64 KiB) and send 64 KiB every 50 ms to /echo.
 *
 * @module
 */
import { closeCode, FrameReader, wsOpen } from "../../wire.ts";
import { count } from "../shared.ts";
import {
  ended,
  FLOOD_FRAME,
  HANDSHAKE_TIMEOUT_MS,
  type PhaseRun,
  pump,
  type Session,
} from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

function slowReader(
  run: PhaseRun,
  port: number,
  localAddress: string,
): Session {
  return async () => {
    const { socket, rest } = await wsOpen({
      port,
      localAddress,
      path: "/echo",
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      sockets: run.sockets,
    });
    count(run.counts, "status 101");
    let code: number | undefined;
    const reader = new FrameReader((opcode, payload) => {
      if (opcode === 0x8) code ??= closeCode(payload);
    });
    reader.push(rest);
    socket.on("data", (chunk: Uint8Array) => {
      reader.push(chunk);
      socket.pause();
    });
    socket.pause();
    const sipper = setInterval(() => socket.resume(), 1000);
    const progress = pump(socket, FLOOD_FRAME, 50);
    try {
      return await ended(run, socket, progress, () => code);
    } finally {
      clearInterval(sipper);
    }
  };
}

/** The slow-reader phase; its slots are held 60 s, so it takes fresh addresses. */
export const slowReaders: HostilePhase = {
  name: "slow_readers",
  block: 2,
  start(ctx) {
    ctx.flock(ctx.fresh(4), 8, 500, (a) => slowReader(ctx.run, ctx.port, a));
  },
};
