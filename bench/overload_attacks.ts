/**
 * The attacks of issue #20, each from one loopback address, for the tests
 * (`tests/overload_watch_test.ts`), `deno task soak` and the measurements in
 * `bench/overload_facts.ts`: an endless fragmented message, upgrades reset
 * by the client, pong and empty-frame floods, a close the client never
 * answers; and a bystander that echoes, reconnects at once when closed, and
 * records its worst gap. Raw `node:net` clients: they pick their local
 * address, which `WebSocket` and `Deno.connect` cannot. Every wait has a
 * deadline; every attack stops at its byte or time budget.
 *
 * @module
 */
import net from "node:net";
import { Buffer } from "node:buffer";
import { clientFrame, closeCode, FrameReader, upgradeRequest } from "./wire.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/** What an upgrade attempt got: the status, or why there was none. */
export interface Opened {
  status: number;
  socket: net.Socket;
  /** Bytes after the response head. */
  rest: Uint8Array;
  /** The response head, lowercase header names kept as sent. */
  head: string;
}

/**
 * Connects from `localAddress` and sends an upgrade for `path`; resolves with
 * the response status once its head has arrived.
 *
 * @throws {Error} When the connection fails or no head arrives within
 * `timeoutMs`; the socket is destroyed.
 */
export function openFrom(
  port: number,
  localAddress: string,
  options: { path?: string; timeoutMs?: number } = {},
): Promise<Opened> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  socket.on("error", () => {});
  const { promise, resolve, reject } = Promise.withResolvers<Opened>();
  let head = Buffer.alloc(0);
  const timer = setTimeout(() => {
    socket.destroy();
    reject(
      new Error(
        `No response for ${localAddress} within ${
          options.timeoutMs ?? 5000
        } ms`,
      ),
    );
  }, options.timeoutMs ?? 5000);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.pause();
    const text = head.subarray(0, end).toString("latin1");
    resolve({
      status: Number(text.slice(9, 12)),
      socket,
      rest: new Uint8Array(head.subarray(end + 4)),
      head: text,
    });
  };
  socket.on("data", onData);
  socket.once("close", () => {
    clearTimeout(timer);
    reject(
      new Error(`Connection from ${localAddress} closed before a response`),
    );
  });
  socket.once(
    "connect",
    () => socket.write(upgradeRequest(options.path ?? "/echo")),
  );
  return promise;
}

/**
 * Writes `chunk` again and again until `budget` bytes went or the socket
 * ends; at most `bytesPerSecond` when given (checked every 10 ms), else as
 * fast as the socket takes it.
 */
function pumpUntil(
  socket: net.Socket,
  chunk: Uint8Array,
  budget: number,
  bytesPerSecond = Infinity,
) {
  let sent = 0;
  const started = performance.now();
  const { promise, resolve } = Promise.withResolvers<number>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pump = () => {
    timer = undefined;
    const allowed = bytesPerSecond === Infinity
      ? budget
      : (performance.now() - started) / 1000 * bytesPerSecond;
    while (!socket.destroyed && sent < budget) {
      if (sent > allowed) {
        timer = setTimeout(pump, 10);
        return;
      }
      sent += chunk.length;
      if (!socket.write(chunk)) return;
    }
    if (sent >= budget) resolve(sent);
  };
  socket.on("drain", () => {
    if (timer === undefined) pump();
  });
  socket.once("close", () => {
    clearTimeout(timer);
    resolve(sent);
  });
  pump();
  return promise;
}

/** How an attack connection ended. */
export interface AttackResult {
  /** The upgrade's status (0 when it never got one). */
  status: number;
  /** Bytes written. */
  sentBytes: number;
  /** True when the server ended the connection before the budget was spent. */
  cut: boolean;
}

/** Repeats `frame` into one write of about 64 KiB. */
function batch(frame: Uint8Array): Uint8Array {
  const times = Math.max(1, Math.floor(64 * 1024 / frame.length));
  const out = new Uint8Array(frame.length * times);
  for (let i = 0; i < times; i++) out.set(frame, i * frame.length);
  return out;
}

/** Options for {@link endlessFragments} and {@link unansweredClose}. */
export interface FragmentOptions {
  /** Sent once the upgrade is answered, before the fragments. */
  prelude?: (opened: Opened) => void;
  /**
   * The attacker's bandwidth, in bytes per second. @default as fast as the
   * socket takes them (150-400 MiB/s on loopback)
   */
  bytesPerSecond?: number;
  /** How long to wait after the prelude before the fragments, in ms. @default 0 */
  pauseMs?: number;
}

/**
 * Attack 1: a binary frame with FIN=0, then 1 MiB continuation frames with
 * FIN=0, never finished, until `budgetBytes` are sent or the server cuts.
 */
export async function endlessFragments(
  port: number,
  localAddress: string,
  budgetBytes: number,
  options: FragmentOptions = {},
): Promise<AttackResult> {
  let opened: Opened;
  try {
    opened = await openFrom(port, localAddress);
  } catch {
    return { status: 0, sentBytes: 0, cut: true };
  }
  const { socket, status } = opened;
  if (status !== 101) {
    socket.destroy();
    return { status, sentBytes: 0, cut: true };
  }
  options.prelude?.(opened);
  if (options.pauseMs) {
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  socket.write(clientFrame(0x2, new Uint8Array(MiB), false));
  const sent = await pumpUntil(
    socket,
    clientFrame(0x0, new Uint8Array(MiB), false),
    budgetBytes,
    options.bytesPerSecond,
  );
  const cut = socket.destroyed;
  socket.destroy();
  return { status, sentBytes: sent + MiB, cut };
}

/**
 * Attack 4: sends text "Goodbye" (the server echoes it and closes with
 * 1000), never answers the close, then sends an endless fragmented message.
 */
export function unansweredClose(
  port: number,
  localAddress: string,
  budgetBytes: number,
  options: Omit<FragmentOptions, "prelude"> = {},
): Promise<AttackResult> {
  return endlessFragments(port, localAddress, budgetBytes, {
    ...options,
    prelude: ({ socket }) =>
      socket.write(clientFrame(0x1, encoder.encode("Goodbye"))),
  });
}

/**
 * Attack 3: unsolicited 125-byte pongs (`pong`) or empty continuation frames
 * after a FIN=0 start (`empty`), for `ms` or until the server cuts.
 */
export async function controlFlood(
  port: number,
  localAddress: string,
  kind: "pong" | "empty",
  ms: number,
): Promise<AttackResult> {
  let opened: Opened;
  try {
    opened = await openFrom(port, localAddress);
  } catch {
    return { status: 0, sentBytes: 0, cut: true };
  }
  const { socket, status } = opened;
  if (status !== 101) {
    socket.destroy();
    return { status, sentBytes: 0, cut: true };
  }
  if (kind === "empty") {
    socket.write(clientFrame(0x2, new Uint8Array(0), false));
  }
  const frame = kind === "pong"
    ? clientFrame(0xa, new Uint8Array(125))
    : clientFrame(0x0, new Uint8Array(0), false);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, ms);
  const sent = await pumpUntil(socket, batch(frame), Infinity);
  clearTimeout(timer);
  socket.destroy();
  return { status, sentBytes: sent, cut: !timedOut };
}

/**
 * Attack 2: `count` upgrades from `localAddress`, each reset by the client
 * (SO_LINGER 0) right after its request, `parallel` at a time. Returns the
 * statuses seen before the reset (most resets come before any answer: 0).
 */
export async function resetUpgrades(
  port: number,
  localAddress: string,
  count: number,
  parallel = 10,
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let started = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress });
      let status = 0;
      socket.on("error", () => {});
      socket.on("data", (chunk: Buffer) => {
        status ||= Number(chunk.subarray(9, 12).toString("latin1"));
      });
      socket.once("connect", () => {
        socket.write(upgradeRequest("/echo"));
        setTimeout(() => socket.resetAndDestroy(), 0);
      });
      socket.once("close", () => {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        resolve();
      });
    });
  const worker = async () => {
    while (started < count) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return statuses;
}

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
