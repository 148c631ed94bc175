/**
 * `deno task bench --scale`: how cost grows with open connections. For the
 * reference and the service in turn it opens 1,000, then 10,000, then 50,000
 * idle WebSockets, each from one of many loopback source addresses
 * (127.10.x.y, 200 connections per address, so no address runs out of
 * ephemeral ports), and at each step measures:
 *
 * - RSS per connection: (RSS now - RSS before the first) / open;
 * - handshake p99: 300 connect-to-101 handshakes, 20 at a time, from a
 *   probe address, while the others stay open;
 * - a bystander's echo p99: one connection that echoes 32 bytes, one at a
 *   time, during those handshakes.
 *
 * The clients are `node:net` sockets (Deno.connect cannot choose its source
 * address); they answer the server's pings, so Deno keeps them open. The
 * descriptor limit is raised for the run with `prlimit` where allowed (the
 * servers inherit it); steps that do not fit the limit are skipped and the
 * output says so. A step that fails (refused, reset, timed out) ends that
 * target's ramp, and the output says at which count and why.
 *
 * @module
 */
import type net from "node:net";
import type { Buffer } from "node:buffer";
import { echoFrames } from "./load.ts";
import { clientFrame, CLOSE_1000, FrameReader, wsOpen } from "./wire.ts";

/** The open-connection counts measured, in order. */
export const SCALE_STEPS: readonly number[] = [1000, 10_000, 50_000];

/** Connections per source address: far below the ~28,000 ephemeral ports. */
const PER_ADDRESS = 200;
const OPEN_CONCURRENCY = 200;
const PROBE_HANDSHAKES = 300;
const PROBE_CONCURRENCY = 20;
/** How long one handshake may take before the step counts as failed, in ms. */
const HANDSHAKE_DEADLINE_MS = 15_000;

const BYSTANDER = echoFrames(1, new TextEncoder().encode("b".repeat(32)));

/** A started server, as `bench/run.ts` starts it. */
export interface ScaleServer {
  child: Deno.ChildProcess;
  port: number;
}

/** One step of the curve for one target. */
export interface ScaleStep {
  open: number;
  rssMiB: number;
  kibPerConnection: number;
  handshakeP99Ms: number;
  bystanderP99Ms: number;
  /** Seconds to open this step's new connections. */
  rampSeconds: number;
}

/** The curve of one target, and why it stopped early if it did. */
export interface ScaleCurve {
  steps: ScaleStep[];
  stoppedAt?: { open: number; reason: string };
}

function sourceAddress(index: number): string {
  const group = Math.floor(index / PER_ADDRESS) + 1;
  return `127.10.${group >> 8}.${group & 255}`;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ??
    NaN;
}

/**
 * Replies to each ping with a pong carrying its payload, read with the one
 * frame parser (`bench/wire/frame.ts`), wherever the reads split the frames.
 */
function answerPings(socket: net.Socket): (chunk: Uint8Array) => void {
  const reader = new FrameReader((opcode, payload) => {
    if (opcode === 0x9) {
      socket.write(clientFrame(0xa, payload ?? new Uint8Array(0)));
    }
  }, 125);
  return (chunk) => reader.push(chunk);
}

/** Every client socket of the run, so none outlives it. */
const open = new Set<net.Socket>();

/** Opens one WebSocket from `localAddress`; resolves with it and the ms to the 101. */
async function openFrom(
  port: number,
  localAddress: string,
): Promise<{ socket: net.Socket; ms: number }> {
  const started = performance.now();
  const { socket } = await wsOpen({
    port,
    localAddress,
    path: "/echo",
    timeoutMs: HANDSHAKE_DEADLINE_MS,
    sockets: open,
  });
  const ms = performance.now() - started;
  socket.on("data", answerPings(socket));
  socket.resume();
  return { socket, ms };
}

/** Runs `task(i)` for i in [from, to), `concurrency` at a time. */
async function pool(
  from: number,
  to: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = from;
  let failure: unknown;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < to && failure === undefined) {
      try {
        await task(next++);
      } catch (error) {
        failure ??= error;
      }
    }
  });
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
}

/** Echoes 32 bytes one at a time until `stop` resolves; the round trips in ms. */
async function bystander(port: number, stop: Promise<void>): Promise<number[]> {
  const { socket } = await openFrom(port, "127.9.255.1");
  const times: number[] = [];
  let stopped = false;
  stop.then(() => stopped = true);
  try {
    while (!stopped) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        let received = 0;
        const onData = (chunk: Buffer) => {
          received += chunk.length;
          if (received < BYSTANDER.reply.length) return;
          socket.off("data", onData);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          socket.off("data", onData);
          reject(new Error("the bystander got no echo within 10 s"));
        }, 10_000);
        socket.on("data", onData);
        socket.write(BYSTANDER.request);
      });
      times.push(performance.now() - started);
      // About 100 echoes a second: a person typing, not load.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    socket.end(CLOSE_1000);
    socket.destroy();
  }
  return times;
}

/** 300 handshakes from a probe address while a bystander echoes. */
async function probe(port: number) {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => finish = resolve);
  const echoes = bystander(port, done);
  const handshakes: number[] = [];
  try {
    await pool(0, PROBE_HANDSHAKES, PROBE_CONCURRENCY, async (i) => {
      const { socket, ms } = await openFrom(
        port,
        `127.9.${1 + (i >> 8)}.${i & 255}`,
      );
      handshakes.push(ms);
      socket.end(CLOSE_1000);
      socket.destroy();
    });
  } finally {
    finish();
  }
  return {
    handshakeP99Ms: percentile(handshakes, 0.99),
    bystanderP99Ms: percentile(await echoes, 0.99),
  };
}

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/**
 * Ramps one server through `steps`, measuring at each; closes every client
 * socket before it returns. The server is the caller's to stop.
 */
export async function scaleCurve(
  server: ScaleServer,
  steps: readonly number[],
): Promise<ScaleCurve> {
  const sockets: net.Socket[] = [];
  const curve: ScaleCurve = { steps: [] };
  const base = rssKiB(server.child.pid);
  try {
    for (const open of steps) {
      const started = performance.now();
      try {
        await pool(sockets.length, open, OPEN_CONCURRENCY, async (i) => {
          const { socket } = await openFrom(server.port, sourceAddress(i));
          sockets.push(socket);
        });
      } catch (error) {
        curve.stoppedAt = {
          open: sockets.length,
          reason: error instanceof Error ? error.message : String(error),
        };
        break;
      }
      const rampSeconds = (performance.now() - started) / 1000;
      const rss = rssKiB(server.child.pid);
      const measured = await probe(server.port);
      curve.steps.push({
        open,
        rssMiB: rss / 1024,
        kibPerConnection: (rss - base) / open,
        rampSeconds,
        ...measured,
      });
    }
  } finally {
    for (const socket of open) socket.destroy();
  }
  return curve;
}

/**
 * Raises this process's open-file limit to `wanted` (soft and hard) with
 * `prlimit`, which needs root or CAP_SYS_RESOURCE to go above the hard limit;
 * children started afterwards inherit it.
 *
 * @returns The limit in force afterwards.
 */
export async function raiseFdLimit(wanted: number): Promise<number> {
  try {
    await new Deno.Command("prlimit", {
      args: [`--pid=${Deno.pid}`, `--nofile=${wanted}:${wanted}`],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // No prlimit: the limit stays as it is.
  }
  const output = await new Deno.Command("sh", { args: ["-c", "ulimit -n"] })
    .output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}
