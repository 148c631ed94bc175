/**
 * The attacks of issue #20, each from one loopback address, for the tests
 * (`tests/start/overload_watch_test.ts`), `deno task soak` and the
 * measurements in `bench/overload_facts.ts`: an endless fragmented message,
 * upgrades reset by the client, pong and empty-frame floods, a close the
 * client never answers. The bystander that echoes beside them is
 * `overload_bystander.ts`. Raw `node:net` clients: they pick their local
 * address, which `WebSocket` and `Deno.connect` cannot. Every wait has a
 * deadline; every attack stops at its byte or time budget.
 *
 * @module
 */
import net from "node:net";
import type { Buffer } from "node:buffer";
import {
  clientFrame,
  httpOpen,
  type NetResponse,
  upgradeRequest,
} from "./wire.ts";

const MiB = 1024 * 1024;
const encoder = new TextEncoder();

/**
 * What an upgrade attempt got: the socket (paused), the status and the bytes
 * after the response head.
 */
export type Opened = NetResponse;

/**
 * Connects from `localAddress` and sends an upgrade for `path`; resolves with
 * the response status once its head has arrived, whatever the status.
 *
 * @throws {ConnectFailed} When the connection fails or no head arrives within
 * `timeoutMs` (default 5000); the socket is destroyed.
 */
export function openFrom(
  port: number,
  localAddress: string,
  options: { path?: string; timeoutMs?: number } = {},
): Promise<Opened> {
  return httpOpen({
    port,
    localAddress,
    timeoutMs: options.timeoutMs ?? 5000,
    sockets: new Set(),
    request: upgradeRequest(options.path ?? "/echo"),
  });
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

/**
 * Opens the attack's connection from `localAddress` and runs `attack` on it
 * once upgraded; a connection that fails or is refused ends the attack there
 * (status 0 for none, counted as cut).
 */
async function attackFrom(
  port: number,
  localAddress: string,
  attack: (opened: Opened) => Promise<AttackResult>,
  path = "/echo",
): Promise<AttackResult> {
  let opened: Opened;
  try {
    opened = await openFrom(port, localAddress, { path });
  } catch {
    return { status: 0, sentBytes: 0, cut: true };
  }
  if (opened.status !== 101) {
    opened.socket.destroy();
    return { status: opened.status, sentBytes: 0, cut: true };
  }
  return attack(opened);
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
  /** Where to upgrade, e.g. `/room/NAME`. @default "/echo" */
  path?: string;
  /**
   * Each frame's payload, in bytes: with 8 MiB frames Deno's read op held
   * the event loop for as long as they came (`overload_facts.ts held`).
   * @default 1 MiB
   */
  frameBytes?: number;
}

/**
 * Attack 1: a binary frame with FIN=0, then 1 MiB (`frameBytes`)
 * continuation frames with FIN=0, never finished, until `budgetBytes` are
 * sent or the server cuts.
 */
export function endlessFragments(
  port: number,
  localAddress: string,
  budgetBytes: number,
  options: FragmentOptions = {},
): Promise<AttackResult> {
  return attackFrom(port, localAddress, async (opened) => {
    const { socket, status } = opened;
    options.prelude?.(opened);
    if (options.pauseMs) {
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
    const frameBytes = options.frameBytes ?? MiB;
    socket.write(clientFrame(0x2, new Uint8Array(frameBytes), false));
    const sent = await pumpUntil(
      socket,
      clientFrame(0x0, new Uint8Array(frameBytes), false),
      budgetBytes,
      options.bytesPerSecond,
    );
    const cut = socket.destroyed;
    socket.destroy();
    return { status, sentBytes: sent + frameBytes, cut };
  }, options.path);
}

/** How a split attack's connections went. */
export interface SplitResult {
  /** Upgrade statuses (0: no answer), and how many got each. */
  statuses: Map<number, number>;
  /** Bytes written on all connections. */
  sentBytes: number;
}

/**
 * A split attack's upgrade from `localAddress`, its status counted in
 * `result` (0: no answer).
 *
 * @returns The socket once upgraded (101), its errors ignored; undefined
 * otherwise (the socket destroyed).
 */
async function openCounted(
  port: number,
  localAddress: string,
  result: SplitResult,
): Promise<net.Socket | undefined> {
  const count = (status: number) =>
    result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
  let opened: Opened;
  try {
    opened = await openFrom(port, localAddress);
  } catch {
    count(0);
    return undefined;
  }
  count(opened.status);
  if (opened.status !== 101) {
    opened.socket.destroy();
    return undefined;
  }
  opened.socket.on("error", () => {});
  return opened.socket;
}

/**
 * Attack 1 split below each connection's allowance: `connections`
 * connections from each of `localAddresses`, each sending "hi", then a
 * binary frame with FIN=0 and continuation frames with FIN=0 up to
 * `perConnection` bytes (1.9 MiB stays under one message in flight plus 1
 * MiB), and holding until the server ends it, `hold.signal` aborts or
 * `hold.ms` pass (stranger review: 4 addresses x 32 connections x 1.9 MiB,
 * issue #20). A recycle's 1013 does not end them: Deno keeps an unanswered
 * close's socket open (`held_sockets.ts` aborts it where it may).
 */
export async function splitFragments(
  port: number,
  localAddresses: string[],
  connections: number,
  perConnection: number,
  hold: { ms: number; signal?: AbortSignal },
): Promise<SplitResult> {
  const result: SplitResult = { statuses: new Map(), sentBytes: 0 };
  const chunk = 64 * 1024;
  const continuation = clientFrame(0x0, new Uint8Array(chunk), false);
  const one = async (localAddress: string) => {
    const socket = await openCounted(port, localAddress, result);
    if (!socket) return;
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write(clientFrame(0x1, encoder.encode("hi")));
    socket.write(clientFrame(0x2, new Uint8Array(chunk), false));
    let sent = chunk;
    for (; sent + chunk <= perConnection; sent += chunk) {
      socket.write(continuation);
    }
    result.sentBytes += sent;
    const destroy = () => socket.destroy();
    const timer = setTimeout(destroy, hold.ms);
    hold.signal?.addEventListener("abort", destroy);
    if (hold.signal?.aborted) destroy();
    await closed;
    clearTimeout(timer);
    hold.signal?.removeEventListener("abort", destroy);
  };
  await Promise.all(
    localAddresses.flatMap((address) =>
      Array.from({ length: connections }, () => one(address))
    ),
  );
  return result;
}

/**
 * Attack 3 split across fresh connections: `parallel` at a time, each from
 * the next address `addresses` gives, sending a binary frame with FIN=0
 * and then empty continuation frames until `perConnection` bytes went, then
 * leaving; until `signal` aborts or `ms` pass (stranger review: 16 at a
 * time, 1.5 MiB each, a fresh address each, issue #20). Each stays under
 * its own unseen allowance; together they hold the event loop.
 */
export async function splitEmptyFlood(
  port: number,
  addresses: () => string,
  options: {
    parallel: number;
    perConnection: number;
    ms: number;
    signal?: AbortSignal;
    /**
     * Ends each connection and waits for the server to close it before the
     * next, so at most `parallel` are open. @default false: leaves at once,
     * and what the kernel still holds for the server arrives after
     */
    waitForClose?: boolean;
  },
): Promise<SplitResult> {
  const result: SplitResult = { statuses: new Map(), sentBytes: 0 };
  const until = performance.now() + options.ms;
  const live = () => !options.signal?.aborted && performance.now() < until;
  const start = clientFrame(0x2, new Uint8Array(0), false);
  const frames = batch(clientFrame(0x0, new Uint8Array(0), false));
  const worker = async () => {
    while (live()) {
      const socket = await openCounted(port, addresses(), result);
      if (!socket) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      socket.write(start);
      const stop = () => socket.destroy();
      options.signal?.addEventListener("abort", stop);
      const timer = setTimeout(stop, Math.max(0, until - performance.now()));
      result.sentBytes += await pumpUntil(
        socket,
        frames,
        options.perConnection,
      );
      if (options.waitForClose && !socket.destroyed) {
        // Leaves only once the server has read it all (at most the deadline).
        socket.end();
        await new Promise((resolve) => socket.once("close", resolve));
      }
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", stop);
      socket.destroy();
    }
  };
  await Promise.all(Array.from({ length: options.parallel }, worker));
  return result;
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
 * after a FIN=0 start (`empty`), for `ms`, until the server cuts or until
 * `signal` aborts; with `messageEveryMs`, pongs with a text message between
 * them that often (a client that shows flow).
 */
export function controlFlood(
  port: number,
  localAddress: string,
  kind: "pong" | "empty",
  ms: number,
  options: { messageEveryMs?: number; signal?: AbortSignal } = {},
): Promise<AttackResult> {
  return attackFrom(port, localAddress, async ({ socket, status }) => {
    const every = options.messageEveryMs;
    const message = clientFrame(0x1, encoder.encode("hi"));
    // Between two writes of whole frames: the message is never split.
    const talking = every === undefined || kind === "empty"
      ? undefined
      : setInterval(() => socket.write(message), every);
    if (kind === "empty") {
      socket.write(clientFrame(0x2, new Uint8Array(0), false));
    }
    const frame = kind === "pong"
      ? clientFrame(0xa, new Uint8Array(125))
      : clientFrame(0x0, new Uint8Array(0), false);
    let stopped = false;
    const stop = () => {
      stopped = true;
      socket.destroy();
    };
    const timer = setTimeout(stop, ms);
    options.signal?.addEventListener("abort", stop);
    const sent = await pumpUntil(socket, batch(frame), Infinity);
    clearTimeout(timer);
    clearInterval(talking);
    options.signal?.removeEventListener("abort", stop);
    socket.destroy();
    return { status, sentBytes: sent, cut: !stopped };
  });
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
