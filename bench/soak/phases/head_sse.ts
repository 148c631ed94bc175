/**
 * HEAD /sse: 40 HEAD requests from each of two fresh addresses (the per-IP
 * cap is 32), then one GET /sse from each: 429 there means HEAD leaked slots.
 *
 * @module
 */
import { errorOutcome, httpOpen } from "../../wire.ts";
import { count, HOST } from "../shared.ts";
import { HANDSHAKE_TIMEOUT_MS, type PhaseRun } from "./agent.ts";
import type { HostilePhase } from "./phase.ts";

/** Sends `HEAD` or `GET /sse` on a fresh connection and returns the status (the stream is then closed). */
async function sseStatus(
  run: PhaseRun,
  port: number,
  localAddress: string,
  method: "HEAD" | "GET",
): Promise<number> {
  const { socket, status } = await httpOpen({
    port,
    localAddress,
    request: `${method} /sse HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    timeoutMs: HANDSHAKE_TIMEOUT_MS,
    sockets: run.sockets,
  });
  socket.destroy();
  return status;
}

/** The HEAD /sse phase; SSE may hold slots for its lifetime, so it takes fresh addresses. */
export const headSse: HostilePhase = {
  name: "head_sse",
  block: 6,
  start({ run, port, fresh, spawn, detail }) {
    const addresses = fresh(2);
    spawn((async () => {
      for (let i = 0; i < 40 && !run.over; i++) {
        for (const a of addresses) {
          try {
            const status = await sseStatus(run, port, a, "HEAD");
            count(run.counts, `HEAD status ${status}`);
          } catch (error) {
            count(run.counts, `HEAD ${errorOutcome(error)}`);
          }
        }
      }
      const probes: Record<string, string> = {};
      for (const a of addresses) {
        try {
          probes[a] = `status ${await sseStatus(run, port, a, "GET")}`;
        } catch (error) {
          probes[a] = errorOutcome(error);
        }
      }
      detail.getSseAfterHead = probes;
    })());
  },
  report(records) {
    const probes = records.map((p) => p.detail?.getSseAfterHead);
    return [
      `HEAD /sse, then GET /sse from the same address: ${
        probes.map((p) => JSON.stringify(p)).join("; ") || "–"
      } (429 means HEAD leaked slots).`,
    ];
  },
};
