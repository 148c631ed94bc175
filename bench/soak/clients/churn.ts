/**
 * Churn: open /echo, echo three messages, close with 1000 and wait for the
 * server's close. Also the admission check after each burst: a new client
 * from a fresh address (127.0.7.x) tries until it is admitted and echoes.
 *
 * @module
 */
import type net from "node:net";
import { clientFrame, CLOSE_1000, closeCode } from "../../wire.ts";
import type { Admission, WellBehaved } from "../record.ts";
import {
  address,
  count,
  type Counts,
  repeat,
  round,
  sleep,
} from "../shared.ts";
import { runSession } from "./session.ts";

const THREE_MESSAGES = repeat(
  clientFrame(0x1, new TextEncoder().encode("churn")),
  3,
);

/** One churn session from `localAddress`: `ok`, or what went wrong. */
export async function churnOnce(
  port: number,
  localAddress: string,
  sockets: Set<net.Socket>,
): Promise<string> {
  let echoes = 0;
  const { outcome } = await runSession(
    { port, localAddress, timeoutMs: 5000, sockets },
    {
      start: ({ socket, because }) => {
        socket.write(THREE_MESSAGES);
        const timer = setTimeout(() => {
          because("timeout");
          socket.destroy();
        }, 5000);
        return () => clearTimeout(timer);
      },
      frame: (opcode, payload, { socket, because }) => {
        if (opcode === 0x1 && ++echoes === 3) socket.write(CLOSE_1000);
        if (opcode === 0x8) {
          const code = closeCode(payload);
          because(echoes === 3 && code === 1000 ? "ok" : `close ${code}`);
          socket.end();
        }
      },
    },
    "closed early",
  );
  return outcome;
}

/** Churn client `id`: a session from one of 127.0.0.10-19 about four times a second. */
export async function churn(
  id: number,
  port: number,
  well: WellBehaved,
  sockets: Set<net.Socket>,
  signal: AbortSignal,
  now: () => number,
): Promise<void> {
  for (let n = 0; n < 100_000 && !signal.aborted; n++) {
    const started = performance.now();
    const outcome = await churnOnce(
      port,
      address(0, 10 + (n * 2 + id) % 10),
      sockets,
    );
    count(well.churn, outcome);
    if (outcome === "ok") {
      well.churnMs.push([round(now(), 1), round(performance.now() - started)]);
    }
    await sleep(250, signal);
  }
}

/**
 * After the flooders leave: tries a new client from a fresh address
 * (127.0.7.x) until it is admitted and echoes, or `limitMs` passes.
 */
export async function admission(
  port: number,
  cycle: number,
  limitMs: number,
  signal: AbortSignal,
): Promise<Admission> {
  const started = performance.now();
  const attempts: Counts = {};
  const sockets = new Set<net.Socket>();
  const localAddress = address(7, cycle % 250 + 1);
  while (!signal.aborted && performance.now() - started < limitMs) {
    const outcome = await churnOnce(port, localAddress, sockets);
    count(attempts, outcome);
    if (outcome === "ok") {
      return { cycle, ms: round(performance.now() - started), attempts };
    }
    await sleep(100, signal);
  }
  for (const socket of sockets) socket.destroy();
  return { cycle, ms: null, attempts };
}
