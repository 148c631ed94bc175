/**
 * A bystander from 127.0.0.(2 + id): a 32-byte text message every 100 ms,
 * each echo timed. A message unanswered for 10 s counts as lost and the
 * bystander reconnects; so does a close.
 *
 * @module
 */
import type net from "node:net";
import {
  clientFrame,
  CLOSE_1000,
  closeCode,
  errorOutcome,
  FrameReader,
  wsOpen,
} from "../../wire.ts";
import type { WellBehaved } from "../record.ts";
import { address, count, round, sleep } from "../shared.ts";

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
    let opened;
    try {
      opened = await wsOpen({
        port,
        localAddress,
        path: "/echo",
        timeoutMs: 10_000,
        sockets,
      });
    } catch (error) {
      count(events, `connect ${errorOutcome(error)}`);
      lostAt ??= connectStarted;
      await sleep(500, signal);
      continue;
    }
    if (lostAt !== undefined) {
      // The time without a connection counts as one message's wait.
      well.unanswered.push([
        round(now(), 1),
        round(performance.now() - lostAt, 1),
        id,
      ]);
      lostAt = undefined;
    }
    const { socket, rest } = opened;
    const sentAt: number[] = [];
    const outcome = await new Promise<string>((resolve) => {
      let seq = 0;
      let why: string | undefined;
      const reader = new FrameReader((opcode, payload) => {
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
          why ??= `close ${closeCode(payload)}`;
          socket.end(CLOSE_1000);
        }
      });
      reader.push(rest);
      socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
      socket.resume();
      const ticker = setInterval(() => {
        const oldest = sentAt[0];
        if (oldest !== undefined && performance.now() - oldest > GIVE_UP_MS) {
          why ??= "echo not received within 10 s";
          socket.destroy();
          return;
        }
        const text = `bystander ${id} ${String(seq++).padStart(12, "0")}`;
        sentAt.push(performance.now());
        socket.write(clientFrame(0x1, encoder.encode(text.padEnd(32, "."))));
      }, 100);
      const onAbort = () => socket.end(CLOSE_1000);
      signal.addEventListener("abort", onAbort, { once: true });
      socket.on("error", (error) => why ??= errorOutcome(error));
      socket.once("close", () => {
        clearInterval(ticker);
        signal.removeEventListener("abort", onAbort);
        resolve(why ?? "closed");
      });
    });
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
