/**
 * The load generator for `bench/run.ts`: WebSocket clients written over raw
 * `Deno.connect` (the handshake and frames of `wire.ts`), sending
 * pre-masked frames from one buffer and checking every echoed frame byte for
 * byte against the frame the server must send back. No
 * per-message allocation, so one core keeps up with the server on the other.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  clientFrame,
  CLOSE_1000,
  openRawWebSocket,
  readFrame,
  serverFrame,
  writeAll,
} from "./wire.ts";

const READ_SIZE = 256 * 1024;
/** A handshake under load may queue behind thousands; this is its deadline. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** A client frame to send and the exact server frame that must come back. */
export interface EchoFrames {
  /** Masked client frame (RFC 6455 §5.3). */
  request: Uint8Array;
  /** Unmasked server frame carrying the same payload and opcode. */
  reply: Uint8Array;
}

/**
 * Builds the frames for one payload; `opcode` 1 is text, 2 binary: the
 * request is `clientFrame` from `wire.ts` (masked, zero key), the reply its
 * `serverFrame`.
 */
export function echoFrames(opcode: 1 | 2, payload: Uint8Array): EchoFrames {
  return {
    request: clientFrame(opcode, payload),
    reply: serverFrame(opcode, payload),
  };
}

/** An open raw WebSocket; `leftover` holds frame bytes read with the 101. */
export interface RawSocket {
  conn: Deno.TcpConn;
  leftover: Uint8Array;
}

/** Connects and completes the opening handshake; throws unless the answer is 101. */
export async function openSocket(
  port: number,
  path = "/echo",
): Promise<RawSocket> {
  const { conn, leftover } = await openRawWebSocket(port, {
    path,
    timeoutMs: HANDSHAKE_TIMEOUT_MS,
  });
  return { conn, leftover };
}

/**
 * Counts echoed frames on one connection as they stream in, comparing each
 * byte with `reply` (frames may be split across reads anywhere).
 */
export class EchoChecker {
  readonly #reply: Buffer;
  #position = 0;
  /** Complete, correct echoes seen so far. */
  echoes = 0;

  constructor(reply: Uint8Array) {
    this.#reply = Buffer.from(reply.buffer, reply.byteOffset, reply.length);
  }

  /** Consumes `bytes`; throws on the first byte that differs. */
  take(bytes: Uint8Array): void {
    let offset = 0;
    const frameLength = this.#reply.length;
    while (offset < bytes.length) {
      const span = Math.min(
        bytes.length - offset,
        frameLength - this.#position,
      );
      const got = Buffer.from(bytes.buffer, bytes.byteOffset + offset, span);
      if (
        got.compare(this.#reply, this.#position, this.#position + span) !== 0
      ) {
        throw new Error(
          `echo mismatch after ${this.echoes} correct echoes, at byte ${this.#position} of the frame`,
        );
      }
      offset += span;
      this.#position += span;
      if (this.#position === frameLength) {
        this.#position = 0;
        this.echoes++;
      }
    }
  }
}

/** Messages per second over `durationMs`, `inFlight` outstanding per connection. */
export async function throughput(options: {
  port: number;
  connections: number;
  inFlight: number;
  frames: EchoFrames;
  durationMs: number;
}): Promise<{ messagesPerSecond: number; bytesPerSecond: number }> {
  const { port, connections, inFlight, frames, durationMs } = options;
  const batch = new Uint8Array(frames.request.length * inFlight);
  for (let i = 0; i < inFlight; i++) {
    batch.set(frames.request, i * frames.request.length);
  }
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => openSocket(port)),
  );
  let counting = false;
  let stop = false;
  let counted = 0;
  const run = async ({ conn, leftover }: RawSocket) => {
    const checker = new EchoChecker(frames.reply);
    checker.take(leftover);
    const chunk = new Uint8Array(READ_SIZE);
    let sent = inFlight;
    await writeAll(conn, batch);
    while (checker.echoes < sent) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("server closed the connection");
      const before = checker.echoes;
      checker.take(chunk.subarray(0, n));
      const done = checker.echoes - before;
      if (counting) counted += done;
      if (!stop && done > 0) {
        sent += done;
        await writeAll(conn, batch.subarray(0, done * frames.request.length));
      }
    }
    conn.close();
  };
  const running = Promise.all(sockets.map(run));
  // Warm up for a tenth of the run, then count for the full duration.
  await new Promise((resolve) => setTimeout(resolve, durationMs / 10));
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  counting = false;
  const seconds = (performance.now() - start) / 1000;
  const messagesPerSecond = counted / seconds;
  stop = true;
  await running;
  return {
    messagesPerSecond,
    bytesPerSecond: messagesPerSecond * (frames.reply.length - 2),
  };
}

/** Round-trip times of one message at a time on one connection, in µs. */
export async function latency(options: {
  port: number;
  frames: EchoFrames;
  durationMs: number;
}): Promise<{ p50: number; p99: number; max: number; samples: number }> {
  const { conn, leftover } = await openSocket(options.port);
  const checker = new EchoChecker(options.frames.reply);
  checker.take(leftover);
  const chunk = new Uint8Array(READ_SIZE);
  const samples: number[] = [];
  const warmUntil = performance.now() + options.durationMs / 10;
  const end = warmUntil + options.durationMs;
  for (let now = performance.now(); now < end; now = performance.now()) {
    const expected = checker.echoes + 1;
    await writeAll(conn, options.frames.request);
    while (checker.echoes < expected) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("server closed the connection");
      checker.take(chunk.subarray(0, n));
    }
    if (now >= warmUntil) samples.push((performance.now() - now) * 1000);
  }
  conn.close();
  samples.sort((a, b) => a - b);
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: samples.at(-1)!,
    samples: samples.length,
  };
}

/**
 * Opens and closes `total` connections, `concurrency` at a time, with a close
 * handshake. `p50Ms` and `p99Ms` are the opening handshakes' times, from
 * `connect()` to the 101's last header byte.
 */
export async function handshakes(options: {
  port: number;
  total: number;
  concurrency: number;
}): Promise<{ perSecond: number; p50Ms: number; p99Ms: number }> {
  let started = 0;
  const times: number[] = [];
  const worker = async () => {
    while (started < options.total) {
      started++;
      const before = performance.now();
      const { conn, leftover } = await openSocket(options.port);
      times.push(performance.now() - before);
      await writeAll(conn, CLOSE_1000);
      // Read until the server's close frame arrives (or the server closes).
      let rest = leftover;
      for (;;) {
        const frame = await readFrame(conn, { leftover: rest }).catch(() =>
          undefined
        );
        if (frame === undefined || frame.opcode === 0x8) break;
        rest = frame.rest;
      }
      conn.close();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const perSecond = options.total / ((performance.now() - start) / 1000);
  times.sort((a, b) => a - b);
  const at = (q: number) =>
    times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { perSecond, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** Opens connections until `count` are open, `concurrency` at a time. */
export async function openIdle(
  port: number,
  sockets: RawSocket[],
  count: number,
  concurrency = 100,
): Promise<void> {
  let claimed = sockets.length;
  const worker = async () => {
    while (claimed < count) {
      claimed++;
      sockets.push(await openSocket(port));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Sends one message on an open socket and waits for its echo. */
export async function echoOnce(socket: RawSocket, frames: EchoFrames) {
  const checker = new EchoChecker(frames.reply);
  checker.take(socket.leftover);
  socket.leftover = new Uint8Array(0);
  await writeAll(socket.conn, frames.request);
  const chunk = new Uint8Array(READ_SIZE);
  while (checker.echoes < 1) {
    const n = await socket.conn.read(chunk);
    if (n === null) throw new Error("server closed the connection");
    checker.take(chunk.subarray(0, n));
  }
}

/** Connects, sends one message and waits for its echo: the server answers. */
export async function roundTrip(port: number, frames: EchoFrames) {
  const socket = await openSocket(port);
  try {
    await echoOnce(socket, frames);
  } finally {
    socket.conn.close();
  }
}
