/**
 * The SSE client: GET /sse from one of 127.0.0.30-39, read three events and
 * leave; every second.
 *
 * @module
 */
import type net from "node:net";
import { errorOutcome, httpOpen } from "../../wire.ts";
import type { WellBehaved } from "../record.ts";
import { address, count, HOST, round, sleep } from "../shared.ts";

const decoder = new TextDecoder();
/** How long three events may take. */
const EVENTS_TIMEOUT_MS = 5000;

/** Runs the SSE client until `signal` aborts, recording into `well`. */
export async function sseClient(
  port: number,
  well: WellBehaved,
  sockets: Set<net.Socket>,
  signal: AbortSignal,
): Promise<void> {
  for (let n = 0; n < 100_000 && !signal.aborted; n++) {
    const started = performance.now();
    let outcome: string;
    try {
      const { socket, status, rest } = await httpOpen({
        port,
        localAddress: address(0, 30 + n % 10),
        request: `GET /sse HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
        timeoutMs: 5000,
        sockets,
      });
      outcome = status === 200
        ? await readEvents(socket, rest, 3)
        : `status ${status}`;
      socket.destroy();
    } catch (error) {
      outcome = `connect ${errorOutcome(error)}`;
    }
    count(well.sse, outcome);
    if (outcome === "ok") well.sseMs.push(round(performance.now() - started));
    await sleep(1000, signal);
  }
}

/** Reads until `wanted` SSE events arrived (5 s at most). */
function readEvents(
  socket: net.Socket,
  rest: Uint8Array,
  wanted: number,
): Promise<string> {
  return new Promise((resolve) => {
    let text = decoder.decode(rest);
    const check = () => {
      if ((text.match(/^event: /gm)?.length ?? 0) >= wanted) finish("ok");
    };
    const finish = (outcome: string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(outcome);
    };
    const timer = setTimeout(() => finish("timeout"), EVENTS_TIMEOUT_MS);
    const onData = (chunk: Uint8Array) => {
      text += decoder.decode(chunk);
      check();
    };
    socket.on("data", onData);
    socket.on("error", (error) => finish(errorOutcome(error)));
    socket.once("close", () => finish("closed early"));
    socket.resume();
    check();
  });
}
