/**
 * The bystander of the overload attacks (`overload_attacks.ts`): a client on
 * its own loopback address that sends a text message every 100 ms, awaits
 * its echo, reconnects at once when closed or refused, and records its
 * echoes, worst gap, refusals and the close codes it was sent. Read by
 * `tests/start/overload_watch_test.ts` ("echoes again within 5 s") and
 * `deno task soak --overload`. Every wait has a deadline: a lost echo ends
 * the connection after 5 s.
 *
 * @module
 */
import { clientFrame, closeCode, FrameReader } from "./wire.ts";
import { type Opened, openFrom } from "./overload_attacks.ts";

const encoder = new TextEncoder();

/** What a bystander saw. */
export interface BystanderReport {
  echoes: number;
  /** When the last echo arrived (`performance.now()`), 0 before any. */
  lastEchoAt: number;
  /** Longest time between two echoes (or the start and the first), in ms. */
  worstGapMs: number;
  /** Connections opened after the first. */
  reconnects: number;
  /** Upgrade statuses other than 101, by status. */
  refusals: Map<number, number>;
  /** Close codes the server sent, by code. */
  closes: Map<number, number>;
}

/** A running bystander: its live report, and how to stop it. */
export interface Bystander {
  /** Updated as it goes. */
  report: BystanderReport;
  /** Stops it; resolves with the final report once its socket has closed. */
  stop(): Promise<BystanderReport>;
}

/**
 * A client that sends a text message every `everyMs`, waits for its echo,
 * and reconnects at once when closed or refused (after `everyMs`), until
 * stopped.
 */
export function startBystander(
  port: number,
  localAddress: string,
  everyMs = 100,
): Bystander {
  const report: BystanderReport = {
    echoes: 0,
    lastEchoAt: 0,
    worstGapMs: 0,
    reconnects: -1,
    refusals: new Map(),
    closes: new Map(),
  };
  const stopper = new AbortController();
  const running = runBystander(
    port,
    localAddress,
    everyMs,
    report,
    stopper.signal,
  );
  return {
    report,
    async stop() {
      stopper.abort();
      await running;
      return report;
    },
  };
}

async function runBystander(
  port: number,
  localAddress: string,
  everyMs: number,
  report: BystanderReport,
  signal: AbortSignal,
): Promise<void> {
  let last = performance.now();
  const gap = () => {
    const now = performance.now();
    report.worstGapMs = Math.max(report.worstGapMs, now - last);
    report.lastEchoAt = now;
    return now;
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  while (!signal.aborted) {
    report.reconnects++;
    let opened: Opened;
    try {
      opened = await openFrom(port, localAddress);
    } catch {
      await pause(everyMs);
      continue;
    }
    if (opened.status !== 101) {
      report.refusals.set(
        opened.status,
        (report.refusals.get(opened.status) ?? 0) + 1,
      );
      opened.socket.destroy();
      await pause(everyMs);
      continue;
    }
    await echoLoop(opened, report, signal, everyMs, () => last = gap(), pause);
  }
  report.worstGapMs = Math.max(report.worstGapMs, performance.now() - last);
}

/** Sends, awaits the echo, repeats; returns when the connection ends. */
async function echoLoop(
  opened: Opened,
  report: BystanderReport,
  signal: AbortSignal,
  everyMs: number,
  echoed: () => void,
  pause: (ms: number) => Promise<void>,
): Promise<void> {
  const { socket } = opened;
  let waiting: (() => void) | undefined;
  let ended = false;
  const end = () => {
    ended = true;
    waiting?.();
  };
  const reader = new FrameReader((opcode, payload) => {
    if (opcode === 0x8) {
      const code = closeCode(payload);
      report.closes.set(code, (report.closes.get(code) ?? 0) + 1);
      socket.destroy();
    } else if (opcode === 0x1) {
      report.echoes++;
      echoed();
      waiting?.();
    }
  });
  reader.push(opened.rest);
  socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
  socket.once("close", end);
  const abort = () => socket.destroy();
  signal.addEventListener("abort", abort, { once: true });
  socket.resume();
  let n = 0;
  while (!signal.aborted && !ended) {
    const { promise, resolve } = Promise.withResolvers<void>();
    waiting = resolve;
    socket.write(clientFrame(0x1, encoder.encode(`bystander ${n++}`)));
    // A lost echo ends the connection after 5 s: reconnect.
    const timer = setTimeout(() => socket.destroy(), 5000);
    await promise;
    clearTimeout(timer);
    if (!ended) await pause(everyMs);
  }
  signal.removeEventListener("abort", abort);
  socket.destroy();
  if (!ended) await new Promise((resolve) => socket.once("close", resolve));
}
