/**
 * `deno task soak [--minutes N] [--quick]`: a long run of well-behaved and
 * hostile clients against the service, started exactly as `deno task start`
 * does (the start task's flags from deno.json, every limit at its default, a
 * free loopback port), watching its memory and its answers (issue #12).
 *
 * Well-behaved clients run the whole time: bystanders (each from its own
 * 127.0.0.x address) send a small text message every 100 ms and time its echo;
 * churn clients connect, echo three messages and leave; SSE clients read three
 * events and leave. Hostile phases repeat in cycles: THE BURST (40 addresses
 * 127.0.1.1-40 × 32 raw clients sending 64 KiB binary frames as fast as they
 * can and never reading, held 20 s, then all leave, then the time until a new
 * client from a fresh address is admitted and echoes), slow readers, idle TCP
 * connections that never send a request, `/close` invalid-command floods,
 * empty-message floods and HEAD /sse requests. Hostile clients expect to be
 * refused, closed or reset, and reconnect after a backoff while their phase
 * lasts. They run in a worker, so their work does not delay the bystanders'
 * clock reads on the main thread (both share the machine's cores).
 *
 * The server's RSS (VmRSS) and `/healthz` are sampled once a second. A markdown
 * summary goes to stdout, progress to stderr, and every sample to
 * `bench/results/soak-<time>.json`. Exits 1 if the server died, 130 on Ctrl-C.
 *
 * All traffic stays on loopback; every loop is bounded in count and time.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { clientFrame, upgradeRequest } from "./wire.ts";
import { ROOT, startTaskArgs } from "./service.ts";

// ---------------------------------------------------------------------------
// Wire: raw WebSocket and HTTP clients over node:net, which (unlike
// Deno.connect) can bind a client socket's source address (`localAddress`).
// ---------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HOST = "127.0.0.1";
const KiB = 1024;

/** A connect or handshake that did not give an open WebSocket. */
class ConnectFailed extends Error {
  /** Short outcome for the counters: `status 429`, `timeout`, `ECONNRESET`. */
  readonly outcome: string;
  constructor(outcome: string) {
    super(`Cannot connect: ${outcome}`);
    this.name = "ConnectFailed";
    this.outcome = outcome;
  }
}

/** The error code of a socket error, for the counters. */
function errorOutcome(error: unknown): string {
  return (error as { code?: string }).code ?? (error as Error).name ??
    "error";
}

/**
 * Opens a TCP connection from `localAddress`, sends `request` and reads the
 * response head. Resolves with the socket (paused: the caller decides
 * whether to read), the status and any bytes read after the head.
 *
 * @throws {ConnectFailed} On a connection error, a reset or a timeout.
 */
function httpOpen(options: {
  port: number;
  localAddress: string;
  request: string;
  timeoutMs: number;
  sockets: Set<net.Socket>;
}): Promise<{ socket: net.Socket; status: number; rest: Uint8Array }> {
  const { promise, resolve, reject } = Promise.withResolvers<
    { socket: net.Socket; status: number; rest: Uint8Array }
  >();
  const socket = net.connect({
    host: HOST,
    port: options.port,
    localAddress: options.localAddress,
  });
  options.sockets.add(socket);
  let settled = false;
  const fail = (outcome: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    reject(new ConnectFailed(outcome));
  };
  const timer = setTimeout(() => fail("timeout"), options.timeoutMs);
  let head = new Uint8Array(0);
  const onData = (chunk: Uint8Array) => {
    const joined = new Uint8Array(head.length + chunk.length);
    joined.set(head);
    joined.set(chunk, head.length);
    head = joined;
    const end = indexOfHeadEnd(head);
    if (end < 0) {
      if (head.length > 16 * KiB) fail("response head too big");
      return;
    }
    settled = true;
    clearTimeout(timer);
    socket.off("data", onData);
    socket.pause();
    const status = Number(decoder.decode(head.subarray(9, 12)));
    resolve({ socket, status, rest: head.slice(end + 4) });
  };
  socket.on("data", onData);
  socket.on("error", (error) => fail(errorOutcome(error)));
  socket.on("close", () => {
    options.sockets.delete(socket);
    fail("closed before the response");
  });
  socket.on("connect", () => socket.write(options.request));
  return promise;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

/**
 * Completes a WebSocket opening handshake from `localAddress`.
 *
 * @throws {ConnectFailed} Unless the answer is 101 (`status 429`, `status 503`…).
 */
async function wsOpen(options: {
  port: number;
  localAddress: string;
  path: string;
  timeoutMs: number;
  sockets: Set<net.Socket>;
}): Promise<{ socket: net.Socket; rest: Uint8Array }> {
  const opened = await httpOpen({
    ...options,
    request: upgradeRequest(options.path),
  });
  if (opened.status !== 101) {
    opened.socket.destroy();
    throw new ConnectFailed(`status ${opened.status}`);
  }
  return { socket: opened.socket, rest: opened.rest };
}

/** Largest payload a {@link FrameReader} keeps; larger ones are only counted. */
const KEPT_PAYLOAD_BYTES = 4 * KiB;

/**
 * Splits a server's byte stream (unmasked frames) into frames, wherever the
 * reads split it. Payloads up to 4 KiB are passed on; larger ones are skipped.
 */
class FrameReader {
  #pending: Uint8Array = new Uint8Array(0);
  #skip = 0;
  readonly #onFrame: (opcode: number, payload: Uint8Array | undefined) => void;

  constructor(
    onFrame: (opcode: number, payload: Uint8Array | undefined) => void,
  ) {
    this.#onFrame = onFrame;
  }

  /** Consumes bytes as they arrive. */
  push(chunk: Uint8Array): void {
    let data = chunk;
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, data.length);
      this.#skip -= n;
      data = data.subarray(n);
    }
    if (this.#pending.length > 0) {
      const joined = new Uint8Array(this.#pending.length + data.length);
      joined.set(this.#pending);
      joined.set(data, this.#pending.length);
      data = joined;
    }
    let at = 0;
    while (data.length - at >= 2) {
      const available = data.length - at;
      const opcode = data[at]! & 0x0f;
      let length = data[at + 1]! & 0x7f;
      let head = 2;
      if (length === 126) {
        if (available < 4) break;
        length = (data[at + 2]! << 8) | data[at + 3]!;
        head = 4;
      } else if (length === 127) {
        if (available < 10) break;
        length = Number(
          new DataView(data.buffer, data.byteOffset + at + 2, 8)
            .getBigUint64(0),
        );
        head = 10;
      }
      if (data[at + 1]! & 0x80) head += 4;
      if (length > KEPT_PAYLOAD_BYTES) {
        if (available < head) break;
        this.#onFrame(opcode, undefined);
        const n = Math.min(length, available - head);
        at += head + n;
        this.#skip = length - n;
        continue;
      }
      if (available < head + length) break;
      this.#onFrame(opcode, data.subarray(at + head, at + head + length));
      at += head + length;
    }
    this.#pending = data.slice(at);
  }
}

/** The close code in a close frame's payload, or 1005 when it has none. */
function closeCode(payload: Uint8Array | undefined): number {
  return payload && payload.length >= 2
    ? (payload[0]! << 8) | payload[1]!
    : 1005;
}

/** A masked close frame with code 1000. */
const CLOSE_1000 = clientFrame(0x8, Uint8Array.of(3, 232));

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Counts outcomes by name (`status 429`, `close 1008`, `stall`, …). */
type Counts = Record<string, number>;

function count(counts: Counts, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

// ---------------------------------------------------------------------------
// The hostile clients: run in a worker, one phase at a time.
// ---------------------------------------------------------------------------

/** The hostile phases of one cycle, in order. */
const HOSTILE_PHASES = [
  "burst",
  "slow_readers",
  "idle_tcp",
  "close_flood",
  "empty_flood",
  "head_sse",
] as const;
type HostilePhase = typeof HOSTILE_PHASES[number];

/** Main thread → worker. */
type ToAttacker =
  | {
    type: "run";
    phase: HostilePhase;
    cycle: number;
    port: number;
    holdMs: number;
  }
  | { type: "abort" };

/** Worker → main thread. */
type FromAttacker = {
  type: "done";
  phase: HostilePhase;
  cycle: number;
  counts: Counts;
  /** Extra figures of a phase (HEAD /sse: the probe statuses). */
  detail: Record<string, unknown>;
};

/** No write progress for this long: the server stopped reading us. */
const STALL_MS = 5000;
const HANDSHAKE_TIMEOUT_MS = 5000;
/** A hostile client makes at most this many connection attempts per phase. */
const MAX_ATTEMPTS = 200;

/** One phase's shared state: its deadline, counters and every socket it opened. */
class PhaseRun {
  readonly counts: Counts = {};
  readonly sockets = new Set<net.Socket>();
  readonly #ended = new AbortController();
  readonly signal: AbortSignal = this.#ended.signal;

  constructor(holdMs: number) {
    const timer = setTimeout(() => this.end(), holdMs);
    this.signal.addEventListener("abort", () => clearTimeout(timer));
  }

  get over(): boolean {
    return this.signal.aborted;
  }

  /** Ends the phase: every socket is destroyed, every agent stops. */
  end(): void {
    this.#ended.abort();
    for (const socket of this.sockets) socket.destroy();
  }
}

let currentPhase: PhaseRun | undefined;

/**
 * One hostile client: connects, runs `session` until the socket ends, and
 * reconnects after an exponential backoff (0.5-8 s, jittered) while the
 * phase lasts, at most {@link MAX_ATTEMPTS} times.
 */
async function agent(
  run: PhaseRun,
  startDelayMs: number,
  session: () => Promise<string>,
): Promise<void> {
  await sleep(startDelayMs, run.signal);
  let backoff = 500;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && !run.over; attempt++) {
    let outcome: string;
    let opened = false;
    try {
      outcome = await session();
      opened = true;
    } catch (error) {
      outcome = error instanceof ConnectFailed
        ? error.outcome
        : errorOutcome(error);
    }
    if (run.over) {
      // Ended by the phase, not by the server.
      count(
        run.counts,
        opened ? "open at phase end" : "connecting at phase end",
      );
      break;
    }
    count(run.counts, outcome);
    backoff = opened ? 500 : Math.min(backoff * 2, 8000);
    await sleep(backoff * (0.5 + Math.random()), run.signal);
  }
}

/**
 * Resolves with why `socket` ended: an error code, `closed`, `stall` (no
 * write progress for {@link STALL_MS}) or `close <code>` if `reader` saw a
 * close frame. `progress()` tells when the last write completed.
 */
function ended(
  run: PhaseRun,
  socket: net.Socket,
  progress: () => number,
  closeSeen: () => number | undefined,
): Promise<string> {
  return new Promise((resolve) => {
    let why: string | undefined;
    const watchdog = setInterval(() => {
      if (performance.now() - progress() > STALL_MS) {
        why ??= "stall";
        socket.destroy();
      }
    }, 1000);
    socket.on("error", (error) => {
      why ??= errorOutcome(error);
    });
    socket.once("close", () => {
      clearInterval(watchdog);
      const code = closeSeen();
      resolve(code !== undefined ? `close ${code}` : why ?? "closed");
    });
    if (run.over) socket.destroy();
  });
}

/**
 * Writes `frame` again and again as fast as the socket takes it (one write
 * in flight), until the socket ends. Returns when the last write completed.
 */
function pump(
  socket: net.Socket,
  frame: Uint8Array,
  pauseMs = 0,
): () => number {
  let lastProgress = performance.now();
  const next = () => {
    if (socket.destroyed) return;
    socket.write(frame, (error) => {
      if (error) return;
      lastProgress = performance.now();
      if (pauseMs > 0) setTimeout(next, pauseMs);
      else next();
    });
  };
  next();
  return () => lastProgress;
}

const FLOOD_FRAME = clientFrame(0x2, new Uint8Array(64 * KiB));
const repeat = (frame: Uint8Array, times: number) => {
  const out = new Uint8Array(frame.length * times);
  for (let i = 0; i < times; i++) out.set(frame, i * frame.length);
  return out;
};
/** 256 `/close` commands "0": each gets a text refusal of about 130 bytes. */
const BAD_CLOSE_BATCH = repeat(clientFrame(0x1, encoder.encode("0")), 256);
/** 1024 empty text messages. */
const EMPTY_BATCH = repeat(clientFrame(0x1, new Uint8Array(0)), 1024);

/**
 * A client that never reads: opens `path` and writes `frame` until it is
 * closed, reset or stalled.
 */
function neverReads(
  run: PhaseRun,
  port: number,
  localAddress: string,
  path: string,
  frame: Uint8Array,
): () => Promise<string> {
  return async () => {
    const { socket } = await wsOpen({
      port,
      localAddress,
      path,
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      sockets: run.sockets,
    });
    count(run.counts, "status 101");
    const progress = pump(socket, frame);
    return await ended(run, socket, progress, () => undefined);
  };
}

/** Reads one chunk a second (at most 64 KiB) and sends 64 KiB every 50 ms. */
function slowReader(
  run: PhaseRun,
  port: number,
  localAddress: string,
): () => Promise<string> {
  return async () => {
    const { socket, rest } = await wsOpen({
      port,
      localAddress,
      path: "/echo",
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      sockets: run.sockets,
    });
    count(run.counts, "status 101");
    let code: number | undefined;
    const reader = new FrameReader((opcode, payload) => {
      if (opcode === 0x8) code ??= closeCode(payload);
    });
    reader.push(rest);
    socket.on("data", (chunk: Uint8Array) => {
      reader.push(chunk);
      socket.pause();
    });
    socket.pause();
    const sipper = setInterval(() => socket.resume(), 1000);
    const progress = pump(socket, FLOOD_FRAME, 50);
    try {
      return await ended(run, socket, progress, () => code);
    } finally {
      clearInterval(sipper);
    }
  };
}

/** A TCP connection that never sends a request; it ends when the server closes it. */
function idleTcp(
  run: PhaseRun,
  port: number,
  localAddress: string,
): () => Promise<string> {
  return () =>
    new Promise((resolve) => {
      const socket = net.connect({ host: HOST, port, localAddress });
      run.sockets.add(socket);
      const openedAt = performance.now();
      let why = "closed";
      let received = 0;
      socket.on("connect", () => count(run.counts, "connected"));
      socket.on("data", (chunk: Uint8Array) => received += chunk.length);
      socket.on("error", (error) => why = errorOutcome(error));
      socket.once("close", () => {
        run.sockets.delete(socket);
        if (!run.over) {
          why = `closed by server after ${
            Math.round((performance.now() - openedAt) / 1000)
          } s${received ? " with a response" : ""}`;
        }
        resolve(why);
      });
      if (run.over) socket.destroy();
    });
}

/** Sends `HEAD` or `GET /sse` on a fresh connection and returns the status (the stream is then closed). */
async function sseStatus(
  run: PhaseRun,
  port: number,
  localAddress: string,
  method: "HEAD" | "GET",
) {
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

/** Addresses for a phase: `127.0.<block>.<n>`, fresh ones per cycle where slots may be held. */
function address(block: number, n: number): string {
  return `127.0.${block}.${n}`;
}

/** Runs one hostile phase for `holdMs`, then makes every client leave. */
async function runPhase(
  message: Extract<ToAttacker, { type: "run" }>,
): Promise<FromAttacker> {
  const { phase, cycle, port, holdMs } = message;
  const run = new PhaseRun(holdMs);
  currentPhase = run;
  const detail: Record<string, unknown> = {};
  const agents: Promise<void>[] = [];
  /** `perAddress` clients from each of `addresses`, started over `rampMs`. */
  const flock = (
    addresses: string[],
    perAddress: number,
    rampMs: number,
    make: (localAddress: string) => () => Promise<string>,
  ) => {
    const total = addresses.length * perAddress;
    let i = 0;
    for (let client = 0; client < perAddress; client++) {
      for (const localAddress of addresses) {
        agents.push(agent(run, (i++ * rampMs) / total, make(localAddress)));
      }
    }
  };
  const range = (block: number, from: number, n: number) =>
    Array.from({ length: n }, (_, i) => address(block, from + i));
  // Slots of slow readers are held 60 s and HEAD /sse may hold them for the
  // SSE lifetime: those phases take fresh addresses each cycle.
  const fresh = (block: number, n: number) =>
    range(block, (cycle * n) % 240 + 1, n);
  switch (phase) {
    case "burst":
      flock(
        range(1, 1, 40),
        32,
        1000,
        (a) => neverReads(run, port, a, "/echo", FLOOD_FRAME),
      );
      break;
    case "slow_readers":
      flock(fresh(2, 4), 8, 500, (a) => slowReader(run, port, a));
      break;
    case "idle_tcp":
      flock(range(3, 1, 4), 50, 500, (a) => idleTcp(run, port, a));
      break;
    case "close_flood":
      flock(
        fresh(4, 4),
        8,
        500,
        (a) => neverReads(run, port, a, "/close", BAD_CLOSE_BATCH),
      );
      break;
    case "empty_flood":
      // Half plain echo (the backlog check counts bytes, and these have
      // none), half delayed echo (each queued message is charged 64 bytes).
      flock(fresh(5, 4), 8, 500, (a) =>
        neverReads(
          run,
          port,
          a,
          Number(a.split(".")[3]) % 2 ? "/echo" : "/echo?delay=10000",
          EMPTY_BATCH,
        ));
      break;
    case "head_sse": {
      // 40 HEAD requests from each of two fresh addresses (the per-IP cap is
      // 32), then one GET /sse from each: 429 there means HEAD leaked slots.
      const addresses = fresh(6, 2);
      agents.push((async () => {
        for (let i = 0; i < 40 && !run.over; i++) {
          for (const a of addresses) {
            try {
              count(
                run.counts,
                `HEAD status ${await sseStatus(run, port, a, "HEAD")}`,
              );
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
            probes[a] = (error as ConnectFailed).outcome ?? String(error);
          }
        }
        detail.getSseAfterHead = probes;
      })());
      break;
    }
  }
  await sleep(holdMs, run.signal);
  run.end();
  await Promise.all(agents);
  currentPhase = undefined;
  return { type: "done", phase, cycle, counts: run.counts, detail };
}

/** The worker's side: runs the phases the main thread asks for, one at a time. */
function attackerMain(): void {
  // This module is type-checked as a window script; in the worker, `self` is
  // the worker scope.
  const scope = self as unknown as {
    onmessage: (event: MessageEvent<ToAttacker>) => void;
    postMessage(message: FromAttacker): void;
  };
  scope.onmessage = async (event) => {
    const message = event.data;
    if (message.type === "abort") return currentPhase?.end();
    scope.postMessage(await runPhase(message));
  };
}

// ---------------------------------------------------------------------------
// The main thread: the server, the samplers, the well-behaved clients, the
// phases in order, and the report.
// ---------------------------------------------------------------------------

/** How long each part lasts, in milliseconds. */
interface Plan {
  warmUpMs: number;
  burstHoldMs: number;
  /** After the flooders leave: how long to keep trying to get a new client in. */
  admissionLimitMs: number;
  settleMs: number;
  phaseMs: number;
  gapMs: number;
}

/** One sample of the server's RSS. */
type RssSample = [seconds: number, kib: number, phase: string];

interface HealthSample {
  t: number;
  status: number | string;
  ms: number;
  body?: Record<string, unknown>;
}

interface PhaseRecord {
  phase: string;
  cycle: number;
  start: number;
  end: number;
  counts?: Counts;
  detail?: Record<string, unknown>;
}

interface Admission {
  cycle: number;
  /** From the last flooder leaving to the first echo of a new client; null if none. */
  ms: number | null;
  attempts: Counts;
}

/** Figures the well-behaved clients collect. */
interface WellBehaved {
  /** [seconds, round-trip ms, bystander] per echo. */
  bystander: Array<[number, number, number]>;
  /** Messages never echoed: [seconds, ms waited until given up, bystander]. */
  unanswered: Array<[number, number, number]>;
  bystanderEvents: Counts;
  churn: Counts;
  /** [seconds, ms] per successful churn session. */
  churnMs: Array<[number, number]>;
  sse: Counts;
  sseMs: number[];
}

/** Runs the soak and returns the exit code. */
async function runSoak(): Promise<number> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      minutes: { type: "string", default: "10" },
      quick: { type: "boolean", default: false },
    },
  });
  const quick = args.values.quick;
  const minutes = quick ? 1 : Number(args.values.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
    console.error(
      `soak: Invalid --minutes "${args.values.minutes}": expected a number above 0, at most 1440`,
    );
    return 2;
  }
  const plan: Plan = quick
    ? {
      warmUpMs: 3000,
      burstHoldMs: 20_000,
      admissionLimitMs: 15_000,
      settleMs: 2000,
      phaseMs: 4000,
      gapMs: 1000,
    }
    : {
      warmUpMs: 10_000,
      burstHoldMs: 20_000,
      admissionLimitMs: 30_000,
      settleMs: 5000,
      phaseMs: 15_000,
      gapMs: 2000,
    };
  const durationMs = minutes * 60_000;
  const memTotalKiB = Number(
    /MemTotal:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/meminfo"))![1],
  );
  /** Above this the burst is stopped early, to protect the machine. */
  const safetyKiB = Math.min(8 * 1024 * 1024, memTotalKiB * 0.4);

  const stop = new AbortController();
  const began = performance.now();
  const now = () => (performance.now() - began) / 1000;
  const log = (line: string) =>
    console.error(`soak: [${now().toFixed(0).padStart(4)} s] ${line}`);

  // The server, started with the start task's flags (directly, so its pid is
  // the server's), every limit at its default.
  const port = freePort();
  const server = new Deno.Command(Deno.execPath(), {
    args: await startTaskArgs(),
    cwd: ROOT,
    env: { PORT: String(port), BIND_ADDRESS: HOST },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let serverExit: Deno.CommandStatus | undefined;
  let serverDied = false;
  let serverStderr = "";
  const stderrDone = (async () => {
    for await (
      const text of server.stderr.pipeThrough(new TextDecoderStream())
    ) {
      serverStderr = (serverStderr + text).slice(-8 * KiB);
    }
  })();
  let stopping = false;
  const serverStatus = server.status.then((status) => {
    serverExit = status;
    if (!stopping) {
      serverDied = true;
      log(`the server died: ${JSON.stringify(status)}`);
      stop.abort();
    }
    return status;
  });

  const worker = new Worker(import.meta.url, {
    type: "module",
    name: ATTACKER,
  });
  let workerError: string | undefined;
  let onDone: ((message: FromAttacker) => void) | undefined;
  worker.onmessage = (event: MessageEvent<FromAttacker>) =>
    onDone?.(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    workerError = event.message;
    log(`the attacker worker failed: ${event.message}`);
    stop.abort();
  };
  const abortPhase = () => worker.postMessage({ type: "abort" });
  stop.signal.addEventListener("abort", abortPhase);

  const interrupted = { signal: "" };
  const onSignal = (signal: Deno.Signal) => () => {
    interrupted.signal = signal;
    log(`${signal}: stopping`);
    stop.abort();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((
    signal,
  ) => [signal, onSignal(signal)] as const);
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }

  let phase = "start";
  const rss: RssSample[] = [];
  const health: HealthSample[] = [];
  const phases: PhaseRecord[] = [];
  const admissions: Admission[] = [];
  const well: WellBehaved = {
    bystander: [],
    unanswered: [],
    bystanderEvents: {},
    churn: {},
    churnMs: [],
    sse: {},
    sseMs: [],
  };
  let safetyStop = false;
  let metricsAtEnd = "";
  const mainSockets = new Set<net.Socket>();
  const background: Promise<unknown>[] = [];

  try {
    await waitForServer(port, stop.signal);
    log(
      `server pid ${server.pid} on ${HOST}:${port}; ${minutes} min${
        quick ? " (--quick)" : ""
      }`,
    );

    // Samplers: RSS and /healthz once a second each.
    background.push((async () => {
      for (let i = 0; i < 100_000 && !stop.signal.aborted; i++) {
        const kib = readRssKiB(server.pid);
        if (kib === undefined) break;
        rss.push([round(now(), 1), kib, phase]);
        if (kib > safetyKiB && phase === "burst" && !safetyStop) {
          safetyStop = true;
          log(`RSS ${mib(kib)} MiB above the safety cap: ending the burst`);
          abortPhase();
        }
        await sleep(1000, stop.signal);
      }
    })());
    background.push((async () => {
      for (let i = 0; i < 100_000 && !stop.signal.aborted; i++) {
        const started = performance.now();
        const sample: HealthSample = { t: round(now(), 1), status: 0, ms: 0 };
        try {
          const response = await fetch(`http://${HOST}:${port}/healthz`, {
            signal: AbortSignal.any([
              AbortSignal.timeout(2000),
              stop.signal,
            ]),
          });
          sample.status = response.status;
          sample.body = await response.json();
        } catch (error) {
          sample.status = errorOutcome(error);
        }
        sample.ms = round(performance.now() - started, 1);
        health.push(sample);
        await sleep(1000 - (performance.now() - started), stop.signal);
      }
    })());

    // Well-behaved clients, for the whole run.
    for (let b = 0; b < 4; b++) {
      background.push(
        bystander(b, port, well, mainSockets, stop.signal, now),
      );
    }
    for (let c = 0; c < 2; c++) {
      background.push(churn(c, port, well, mainSockets, stop.signal, now));
    }
    background.push(sseClient(port, well, mainSockets, stop.signal));

    const runHostile = (
      name: HostilePhase,
      cycle: number,
      holdMs: number,
    ): Promise<FromAttacker | undefined> => {
      if (stop.signal.aborted) return Promise.resolve(undefined);
      phase = name;
      const record: PhaseRecord = {
        phase: name,
        cycle,
        start: round(now(), 1),
        end: 0,
      };
      phases.push(record);
      log(`cycle ${cycle + 1}: ${name}`);
      const { promise, resolve } = Promise.withResolvers<FromAttacker>();
      onDone = resolve;
      worker.postMessage(
        {
          type: "run",
          phase: name,
          cycle,
          port,
          holdMs,
        } satisfies ToAttacker,
      );
      // If the worker fails it never reports: give up 15 s after the stop.
      const givenUp = new Promise<undefined>((resolve) =>
        stop.signal.addEventListener(
          "abort",
          () => setTimeout(() => resolve(undefined), 15_000),
          { once: true },
        )
      );
      return Promise.race([promise, givenUp]).then((done) => {
        record.end = round(now(), 1);
        if (!done) return undefined;
        record.counts = done.counts;
        record.detail = done.detail;
        return done;
      });
    };
    const quiet = async (name: string, ms: number) => {
      if (stop.signal.aborted) return;
      phase = name;
      phases.push({ phase: name, cycle: -1, start: round(now(), 1), end: 0 });
      await sleep(ms, stop.signal);
      phases.at(-1)!.end = round(now(), 1);
    };

    await quiet("warm_up", plan.warmUpMs);
    const cycleMs = plan.burstHoldMs + 3000 + plan.settleMs +
      (HOSTILE_PHASES.length - 1) * (plan.phaseMs + plan.gapMs);
    for (
      let cycle = 0;
      cycle < 1000 && !stop.signal.aborted &&
      (cycle === 0 || performance.now() - began + cycleMs < durationMs);
      cycle++
    ) {
      await runHostile("burst", cycle, plan.burstHoldMs);
      if (stop.signal.aborted) break;
      phase = "admission";
      admissions.push(
        await admission(port, cycle, plan.admissionLimitMs, stop.signal),
      );
      const last = admissions.at(-1)!;
      log(
        `cycle ${cycle + 1}: new client admitted ${
          last.ms === null
            ? `not within ${plan.admissionLimitMs / 1000} s`
            : `after ${Math.round(last.ms)} ms`
        }`,
      );
      await quiet("settle", plan.settleMs);
      for (const name of HOSTILE_PHASES.slice(1)) {
        await runHostile(name, cycle, plan.phaseMs);
        await quiet("gap", plan.gapMs);
      }
    }
    await quiet("tail", durationMs - (performance.now() - began));
    phase = "end";
    if (serverExit === undefined) {
      metricsAtEnd = await fetch(`http://${HOST}:${port}/metrics`, {
        signal: AbortSignal.timeout(5000),
      }).then((response) => response.text()).catch(() => "");
    }
  } finally {
    stopping = true;
    stop.abort();
    worker.terminate();
    for (const socket of mainSockets) socket.destroy();
    await Promise.allSettled(background);
    if (serverExit === undefined) {
      server.kill("SIGTERM");
      const killer = setTimeout(() => server.kill("SIGKILL"), 10_000);
      await serverStatus;
      clearTimeout(killer);
    }
    await stderrDone.catch(() => {});
    for (const [signal, handler] of handlers) {
      Deno.removeSignalListener(signal, handler);
    }
  }

  const diedDuringRun = serverDied;
  const report = summarize({
    quick,
    minutes,
    plan,
    rss,
    health,
    phases,
    admissions,
    well,
    metricsAtEnd,
    alive: !diedDuringRun,
    serverExit,
    serverStderr,
    safetyStop,
    safetyKiB,
    workerError,
    interrupted: interrupted.signal,
    seconds: now(),
  });
  console.log(report.markdown);
  const results = new URL("./results/", import.meta.url);
  await Deno.mkdir(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = new URL(`soak-${stamp}${quick ? "-quick" : ""}.json`, results);
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        quick,
        minutes,
        plan,
        machine: {
          cores: navigator.hardwareConcurrency,
          memTotalKiB,
          deno: Deno.version.deno,
        },
        server: {
          port,
          alive: !diedDuringRun,
          exit: serverExit,
          stderrTail: serverStderr,
        },
        summary: report.figures,
        phases,
        admissions,
        rss,
        health,
        wellBehaved: well,
        metricsAtEnd,
      },
    ) + "\n",
  );
  log(`wrote ${file.pathname}`);
  if (diedDuringRun) return 1;
  if (interrupted.signal) return 130;
  if (workerError) return 1;
  return 0;
}

const ATTACKER = "soak-attacker";

function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Waits until `/healthz` answers, at most 30 s. */
async function waitForServer(port: number, signal: AbortSignal) {
  const deadline = performance.now() + 30_000;
  while (!signal.aborted) {
    try {
      const response = await fetch(`http://${HOST}:${port}/healthz`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      throw new Error("The server did not answer /healthz within 30 s");
    }
    await sleep(20, signal);
  }
}

function readRssKiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /VmRSS:\s+(\d+)/.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A bystander from 127.0.0.(2 + id): a 32-byte text message every 100 ms,
 * each echo timed. A message unanswered for 10 s counts as lost and the
 * bystander reconnects; so does a close.
 */
async function bystander(
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
      count(events, `connect ${(error as ConnectFailed).outcome ?? error}`);
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
        if (oldest !== undefined && performance.now() - oldest > 10_000) {
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

/**
 * Opens /echo from one of 127.0.0.10-19, echoes three messages, closes with
 * 1000 and waits for the server's close; about four times a second.
 */
async function churn(
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

async function churnOnce(
  port: number,
  localAddress: string,
  sockets: Set<net.Socket>,
): Promise<string> {
  let opened;
  try {
    opened = await wsOpen({
      port,
      localAddress,
      path: "/echo",
      timeoutMs: 5000,
      sockets,
    });
  } catch (error) {
    return `connect ${(error as ConnectFailed).outcome ?? error}`;
  }
  const { socket, rest } = opened;
  return await new Promise<string>((resolve) => {
    let echoes = 0;
    let why: string | undefined;
    const timer = setTimeout(() => {
      why ??= "timeout";
      socket.destroy();
    }, 5000);
    const reader = new FrameReader((opcode, payload) => {
      if (opcode === 0x1 && ++echoes === 3) socket.write(CLOSE_1000);
      if (opcode === 0x8) {
        const code = closeCode(payload);
        why ??= echoes === 3 && code === 1000 ? "ok" : `close ${code}`;
        socket.end();
      }
    });
    reader.push(rest);
    socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
    socket.resume();
    const message = clientFrame(0x1, encoder.encode("churn"));
    socket.write(repeat(message, 3));
    socket.on("error", (error) => why ??= errorOutcome(error));
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(why ?? "closed early");
    });
  });
}

/** GET /sse from one of 127.0.0.30-39, reads three events and leaves; every second. */
async function sseClient(
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
      outcome = `connect ${(error as ConnectFailed).outcome ?? error}`;
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
    const timer = setTimeout(() => finish("timeout"), 5000);
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

/**
 * After the flooders leave: tries a new client from a fresh address
 * (127.0.7.x) until it is admitted and echoes, or `limitMs` passes.
 */
async function admission(
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

// ---------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------

const TARGET_PEAK_RSS_MIB = 512;
const TARGET_BYSTANDER_MS = 1000;
const TARGET_ADMISSION_MS = 5000;

function round(value: number, digits = 0): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function table(counts: Counts | undefined): string {
  const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1]);
  return entries.length === 0
    ? "–"
    : entries.map(([key, value]) => `${key} ×${value}`).join(", ");
}

function metricLines(text: string, name: string): Counts {
  const counts: Counts = {};
  const pattern = new RegExp(`^${name}\\{\\w+="([^"]*)"\\} (\\d+)$`, "gm");
  for (const match of text.matchAll(pattern)) {
    counts[match[1]!] = Number(match[2]);
  }
  return counts;
}

function summarize(run: {
  quick: boolean;
  minutes: number;
  plan: Plan;
  rss: RssSample[];
  health: HealthSample[];
  phases: PhaseRecord[];
  admissions: Admission[];
  well: WellBehaved;
  metricsAtEnd: string;
  alive: boolean;
  serverExit: Deno.CommandStatus | undefined;
  serverStderr: string;
  safetyStop: boolean;
  safetyKiB: number;
  workerError: string | undefined;
  interrupted: string;
  seconds: number;
}): { markdown: string; figures: Record<string, unknown> } {
  const { rss, phases, admissions, well, health } = run;
  const kib = rss.map(([, k]) => k);
  const peakKiB = kib.length ? Math.max(...kib) : NaN;
  const bursts = phases.filter((p) => p.phase === "burst");
  // A burst's window runs until its admission check and settle are over.
  const burstWindows = bursts.map((burst) => {
    const next = phases.find((p) =>
      p.start > burst.start && p.phase !== "settle" && p.phase !== "burst"
    );
    return [burst.start, next?.start ?? Infinity] as const;
  });
  const inBurst = (t: number) => burstWindows.some(([a, b]) => t >= a && t < b);
  const burstKiB = rss.filter(([t]) => inBurst(t)).map(([, k]) => k);
  const peakBurstKiB = burstKiB.length ? Math.max(...burstKiB) : NaN;
  const firstBurst = bursts[0];
  const startKiB =
    [...rss].reverse().find(([t]) =>
      firstBurst === undefined || t < firstBurst.start
    )?.[1] ?? NaN;
  const firstSettle = phases.find((p) => p.phase === "settle");
  const afterFirstBurstKiB = firstSettle
    ? [...rss].reverse().find(([t]) => t <= firstSettle.end)?.[1] ?? NaN
    : NaN;
  const endKiB = rss.at(-1)?.[1] ?? NaN;

  // RSS minima per cycle: the lowest sample from one burst's start to the next's.
  const cycleMinima = bursts.map((burst, i) => {
    const until = bursts[i + 1]?.start ?? Infinity;
    const inCycle = rss.filter(([t]) => t >= burst.start && t < until);
    return inCycle.length ? Math.min(...inCycle.map(([, k]) => k)) : NaN;
  });
  const cycles = cycleMinima.length;
  const minimaSlopeKiB = cycles >= 2
    ? slope(cycleMinima.map((_, i) => i), cycleMinima)
    : NaN;
  const growthKiB = cycles >= 2 ? minimaSlopeKiB * (cycles - 1) : NaN;
  const flat = cycles < 3
    ? undefined
    : growthKiB <= Math.max(16 * 1024, 0.1 * cycleMinima[0]!);
  const flatVerdict = flat === undefined
    ? `not judged: ${cycles} cycle(s), needs 3 or more (run without --quick)`
    : flat
    ? "flat"
    : "**growing**";

  const latencies = well.bystander.map(([, ms]) => ms).sort((a, b) => a - b);
  const waits = well.unanswered.map(([, ms]) => ms);
  const maxWait = Math.max(latencies.at(-1) ?? 0, ...waits);
  const burstLatencies = well.bystander.filter(([t]) => inBurst(t)).map((
    [, ms],
  ) => ms).sort((a, b) => a - b);
  const admissionTimes = admissions.map((a) => a.ms);
  const worstAdmission = admissionTimes.length === 0
    ? undefined
    : admissionTimes.some((ms) => ms === null)
    ? null
    : Math.max(...(admissionTimes as number[]));

  const phaseCounts: Record<string, Counts> = {};
  for (const p of phases) {
    if (!p.counts) continue;
    const into = phaseCounts[p.phase] ??= {};
    for (const [key, value] of Object.entries(p.counts)) {
      count(into, key, value);
    }
  }
  const headProbes = phases.filter((p) => p.phase === "head_sse").map((p) =>
    p.detail?.getSseAfterHead
  );
  const healthFailures: Counts = {};
  let healthMaxMs = 0;
  let maxConnections = 0;
  const healthFields = new Set<string>();
  for (const sample of health) {
    if (sample.status !== 200) count(healthFailures, String(sample.status));
    healthMaxMs = Math.max(healthMaxMs, sample.ms);
    for (const key of Object.keys(sample.body ?? {})) healthFields.add(key);
    maxConnections = Math.max(
      maxConnections,
      Number(sample.body?.connections ?? 0),
    );
  }
  const closes = metricLines(run.metricsAtEnd, "ws_echo_closes_total");
  const refusals = metricLines(run.metricsAtEnd, "ws_echo_refusals_total");
  const breaches = metricLines(
    run.metricsAtEnd,
    "ws_echo_limit_breaches_total",
  );

  const met = (ok: boolean | undefined) =>
    ok === undefined ? "–" : ok ? "met" : "**missed**";
  const ms = (value: number | null) =>
    value === null ? "none" : `${Math.round(value).toLocaleString("en")} ms`;
  const figures = {
    alive: run.alive,
    cycles,
    peakRssMiB: round(peakKiB / 1024, 1),
    peakBurstRssMiB: round(peakBurstKiB / 1024, 1),
    startRssMiB: round(startKiB / 1024, 1),
    afterFirstBurstRssMiB: round(afterFirstBurstKiB / 1024, 1),
    endRssMiB: round(endKiB / 1024, 1),
    cycleMinimaMiB: cycleMinima.map((k) => round(k / 1024, 1)),
    minimaSlopeMiBPerCycle: round(minimaSlopeKiB / 1024, 2),
    flat,
    bystanderEchoes: latencies.length,
    bystanderP99Ms: round(quantile(latencies, 0.99), 1),
    bystanderMaxMs: round(maxWait, 1),
    bystanderBurstP99Ms: round(quantile(burstLatencies, 0.99), 1),
    bystanderUnanswered: waits.length,
    admissionsMs: admissionTimes,
    worstAdmissionMs: worstAdmission,
    closesByCode: closes,
    refusalsByReason: refusals,
    breachesByReason: breaches,
  };
  const exit = run.serverExit;
  const lines = [
    `# Soak: ${run.quick ? "--quick" : `${run.minutes} min`}, ${
      Math.round(run.seconds)
    } s, ${cycles} cycle(s)`,
    "",
    `Service started with the \`deno task start\` flags, every limit at its default, on ${HOST}; ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}.`,
    "",
    `Server: ${
      run.alive
        ? "**stayed alive**"
        : `**DIED** (${JSON.stringify(exit)}); last stderr: ${
          JSON.stringify(run.serverStderr.slice(-500))
        }`
    }${
      run.safetyStop
        ? `; burst stopped early at the ${mib(run.safetyKiB)} MiB safety cap`
        : ""
    }${run.workerError ? `; attacker worker failed: ${run.workerError}` : ""}${
      run.interrupted ? `; interrupted by ${run.interrupted}` : ""
    }.`,
    "",
    "| Target (issue #12) | Measured | |",
    "| --- | --- | --- |",
    `| Peak RSS ≤ ${TARGET_PEAK_RSS_MIB} MiB during 40 × 32 flooders | ${
      mib(peakBurstKiB)
    } MiB | ${met(peakBurstKiB <= TARGET_PEAK_RSS_MIB * 1024)} |`,
    `| A bystander never waits over ${TARGET_BYSTANDER_MS} ms | max ${
      ms(maxWait)
    }, p99 ${ms(quantile(latencies, 0.99))} | ${
      met(maxWait <= TARGET_BYSTANDER_MS)
    } |`,
    `| New client admitted ≤ ${TARGET_ADMISSION_MS} ms after the burst | worst ${
      worstAdmission === undefined
        ? "not measured"
        : worstAdmission === null
        ? "not admitted"
        : ms(worstAdmission)
    } | ${
      met(
        worstAdmission === undefined
          ? undefined
          : worstAdmission !== null && worstAdmission <= TARGET_ADMISSION_MS,
      )
    } |`,
    `| RSS flat over the soak | ${flatVerdict} | ${met(flat)} |`,
    `| Server alive | ${run.alive ? "yes" : "no"} | ${met(run.alive)} |`,
    "",
    "## Memory (server VmRSS, sampled every second)",
    "",
    `- Peak overall ${mib(peakKiB)} MiB; peak during bursts ${
      mib(peakBurstKiB)
    } MiB.`,
    `- At start ${mib(startKiB)} MiB, after the first burst (and settle) ${
      mib(afterFirstBurstKiB)
    } MiB, at the end ${mib(endKiB)} MiB.`,
    `- Minimum per cycle: ${
      cycleMinima.map((k) => `${mib(k)}`).join(", ") || "–"
    } MiB; slope ${
      Number.isNaN(minimaSlopeKiB) ? "–" : `${mib(minimaSlopeKiB)} MiB/cycle`
    }: ${flatVerdict}.`,
    "",
    "## Well-behaved clients",
    "",
    `- Bystanders (4, 127.0.0.2-5, 32 B every 100 ms): ${latencies.length} echoes, p50 ${
      ms(quantile(latencies, 0.5))
    }, p99 ${ms(quantile(latencies, 0.99))}, max ${
      ms(maxWait)
    } (including ${waits.length} message(s) unanswered or reconnect waits; a message is given up after 10 s); during bursts p99 ${
      ms(quantile(burstLatencies, 0.99))
    }, max ${ms(burstLatencies.at(-1) ?? null)}. Disconnects: ${
      table(well.bystanderEvents)
    }.`,
    `- Churn (connect, 3 echoes, close): ${table(well.churn)}; p99 ${
      ms(quantile(well.churnMs.map(([, ms]) => ms).sort((a, b) => a - b), 0.99))
    }.`,
    `- SSE (3 events, leave): ${table(well.sse)}; p99 ${
      ms(quantile([...well.sseMs].sort((a, b) => a - b), 0.99))
    }.`,
    `- Admission after each burst: ${
      admissions.map((a) => `${ms(a.ms)} (${table(a.attempts)})`).join("; ") ||
      "–"
    }.`,
    `- /healthz: ${health.length} samples, max ${ms(healthMaxMs)}, failures ${
      table(healthFailures)
    }, most connections ${maxConnections}, fields ${
      [...healthFields].join(", ")
    }.`,
    "",
    "## Hostile clients: what they saw (all cycles)",
    "",
    "| Phase | Outcomes (handshake status, close code, reset, stall…) |",
    "| --- | --- |",
    ...HOSTILE_PHASES.map((name) =>
      `| ${name} | ${table(phaseCounts[name])} |`
    ),
    "",
    `HEAD /sse, then GET /sse from the same address: ${
      headProbes.map((p) => JSON.stringify(p)).join("; ") || "–"
    } (429 means HEAD leaked slots).`,
    "",
    "## Server's own counters at the end (/metrics)",
    "",
    `- Closes by code: ${table(closes)}.`,
    `- Refusals by reason: ${table(refusals)}.`,
    `- Limit breaches: ${table(breaches)}.`,
  ];
  return { markdown: lines.join("\n"), figures };
}

if ((self as { name?: string }).name === ATTACKER) {
  attackerMain();
} else if (import.meta.main) {
  Deno.exit(await runSoak());
}
