/**
 * A bystander from 127.0.0.(2 + id): a 32-byte text message every 100 ms,
 * each echo timed. A message unanswered for 10 s counts as lost and the
 * bystander reconnects; so does a close.
 *
 * @module
 */
import type net from "node:net";
import { clientFrame, CLOSE_1000, closeCode } from "../../wire.ts";
import type { WellBehaved } from "../record.ts";
import { address, count, round, sleep } from "../shared.ts";
import { runSession } from "./session.ts";

const encoder = new TextEncoder();
/** A message unanswered this long is lost: the bystander reconnects. */
const GIVE_UP_MS = 10_000;

/** Runs bystander `id` until `signal` aborts, recording into `well`. */
export async function bystander(
  id: number,
  port: number,
  well: WellBehaved,
  sockets: Set<net.Socket>,
  signal: AbortSignal,
  now: () => number,
): Promise<void> {
  const localAddress = address(0, 2 + id);
  const events = well.bystanderEvents;
  /** When the bystander lost its connection (or first failed to connect). */
  let lostAt: number | undefined;
  for (let attempt = 0; attempt < 10_000 && !signal.aborted; attempt++) {
    const connectStarted = performance.now();
    const sentAt: number[] = [];
    let seq = 0;
    const { opened, outcome } = await runSession(
      { port, localAddress, timeoutMs: 10_000, sockets },
      {
        start: ({ socket, because }) => {
          if (lostAt !== undefined) {
            // The time without a connection counts as one message's wait.
            well.unanswered.push([
              round(now(), 1),
              round(performance.now() - lostAt, 1),
              id,
            ]);
            lostAt = undefined;
          }
          const ticker = setInterval(() => {
            const oldest = sentAt[0];
            if (
              oldest !== undefined && performance.now() - oldest > GIVE_UP_MS
            ) {
              because("echo not received within 10 s");
              socket.destroy();
              return;
            }
            const text = `bystander ${id} ${String(seq++).padStart(12, "0")}`;
            sentAt.push(performance.now());
            socket.write(
              clientFrame(0x1, encoder.encode(text.padEnd(32, "."))),
            );
          }, 100);
          const onAbort = () => socket.end(CLOSE_1000);
          signal.addEventListener("abort", onAbort, { once: true });
          return () => {
            clearInterval(ticker);
            signal.removeEventListener("abort", onAbort);
          };
        },
        frame: (opcode, payload, { socket, because }) => {
          if (opcode === 0x1) {
            const at = sentAt.shift();
            if (at !== undefined) {
              well.bystander.push([
                round(now(), 2),
                round(performance.now() - at, 2),
                id,
              ]);
            }
          } else if (opcode === 0x8) {
            because(`close ${closeCode(payload)}`);
            socket.end(CLOSE_1000);
          }
        },
      },
      "closed",
    );
    if (!opened) {
      count(events, outcome);
      lostAt ??= connectStarted;
      await sleep(500, signal);
      continue;
    }
    for (const at of sentAt) {
      well.unanswered.push([
        round(now(), 1),
        round(performance.now() - at, 1),
        id,
      ]);
    }
    if (signal.aborted) break;
    count(events, outcome);
    lostAt = performance.now();
    await sleep(500, signal);
  }
}
