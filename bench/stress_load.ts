/**
 * `deno run -A bench/stress_load.ts [--connections N] [--seconds S]`: the
 * network and descriptor load of issue #22's stress check, on loopback only.
 * Starts its own server (`reference_server.ts`, the bare Deno echo) and keeps
 * `--connections` (default 3000) client connections churning against it:
 * each opens from a 127.0.9.x source address, upgrades, sends a small
 * message every second and reads the echoes for 5-30 s, and then resets the
 * connection (SO_LINGER 0 through node:net's `resetAndDestroy()`, so the
 * kernel sends an RST and keeps no TIME_WAIT); one in ten resets right after
 * connecting, before its handshake. About 3000 / 17.5 s = 170 new
 * connections a second at the default, fewer on a machine too busy to
 * complete them (a handshake gives up after 30 s). Stops after `--seconds` (default 600, at most 3600),
 * on SIGINT or SIGTERM, killing its server.
 *
 * A line per 10 s on stderr: open connections, sessions per second, echoes,
 * resets, errors by code. The first line, `stress_load: ready`, says the
 * connections are up.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { ROOT } from "./service.ts";
import {
  clientFrame,
  errorOutcome,
  FrameReader,
  freePort,
  wsOpen,
} from "./wire.ts";

const HOST = "127.0.0.1";
/** Source addresses 127.0.9.1-16: no one address runs out of ports. */
const SOURCES = 16;
const MESSAGE = clientFrame(0x1, new TextEncoder().encode("stress".repeat(8)));

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "3000" },
    seconds: { type: "string", default: "600" },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
if (!Number.isInteger(connections) || connections < 1 || connections > 8000) {
  console.error(
    `stress_load: Invalid --connections "${values.connections}": expected an integer 1-8000`,
  );
  Deno.exit(2);
}
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
  console.error(
    `stress_load: Invalid --seconds "${values.seconds}": expected a number above 0, at most 3600`,
  );
  Deno.exit(2);
}

const port = freePort();
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-net", "--allow-env=PORT", "bench/reference_server.ts"],
  cwd: ROOT,
  env: { PORT: String(port) },
  stdin: "null",
  stdout: "null",
  stderr: "inherit",
}).spawn();

const stop = new AbortController();
const sockets = new Set<net.Socket>();
const errors: Record<string, number> = {};
let sessions = 0;
let echoes = 0;
let resets = 0;
let open = 0;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.signal.removeEventListener("abort", done);
      resolve();
    }
    stop.signal.addEventListener("abort", done, { once: true });
  });

/** One connection: open, maybe send and read, then reset. */
async function session(localAddress: string, early: boolean): Promise<void> {
  if (early) {
    // Reset during the handshake: the server sees a connection die unanswered.
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host: HOST, port, localAddress });
      sockets.add(socket);
      socket.on("error", (error) => {
        const key = errorOutcome(error);
        errors[key] = (errors[key] ?? 0) + 1;
      });
      socket.once("connect", () => {
        socket.write("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        socket.resetAndDestroy();
        resets++;
      });
      socket.once("close", () => {
        sockets.delete(socket);
        resolve();
      });
    });
    return;
  }
  const { socket, rest } = await wsOpen({
    port,
    localAddress,
    path: "/echo",
    timeoutMs: 30_000,
    sockets,
  });
  open++;
  try {
    const reader = new FrameReader((opcode) => {
      if (opcode === 0x1) echoes++;
    });
    reader.push(rest);
    socket.on("data", (chunk: Uint8Array) => reader.push(chunk));
    socket.on("error", () => {});
    socket.resume();
    const ticker = setInterval(() => socket.write(MESSAGE), 1000);
    socket.write(MESSAGE);
    try {
      await sleep(5000 + Math.random() * 25_000);
    } finally {
      clearInterval(ticker);
    }
  } finally {
    open--;
    socket.resetAndDestroy();
    resets++;
  }
}

/** One of the `connections` slots: sessions back to back until the stop. */
async function slot(index: number): Promise<void> {
  const localAddress = `127.0.9.${index % SOURCES + 1}`;
  // Spread the first connections over 10 s.
  await sleep((index / connections) * 10_000);
  for (let n = 0; n < 1_000_000 && !stop.signal.aborted; n++) {
    try {
      await session(localAddress, Math.random() < 0.1);
      sessions++;
    } catch (error) {
      const key = errorOutcome(error);
      errors[key] = (errors[key] ?? 0) + 1;
      await sleep(200);
    }
  }
}

const began = performance.now();
const removeSignals = (["SIGINT", "SIGTERM"] as const).map((signal) => {
  const handler = () => stop.abort();
  Deno.addSignalListener(signal, handler);
  return () => Deno.removeSignalListener(signal, handler);
});
const timer = setTimeout(() => stop.abort(), seconds * 1000);
// At the stop every connection is reset at once, handshakes included.
stop.signal.addEventListener("abort", () => {
  for (const socket of sockets) socket.resetAndDestroy();
}, { once: true });

// Wait for the server to listen (at most 30 s).
for (let i = 0; i < 300; i++) {
  try {
    (await Deno.connect({ hostname: HOST, port })).close();
    break;
  } catch {
    await sleep(100);
  }
}

let lastSessions = 0;
let ready = false;
const reporter = setInterval(() => {
  const t = Math.round((performance.now() - began) / 1000);
  if (!ready && open >= connections * 0.8) {
    ready = true;
    console.error(`stress_load: ready`);
  }
  if (t % 10 === 0) {
    console.error(
      `stress_load: ${t} s: ${open} open, ${
        Math.round((sessions - lastSessions) / 10)
      } sessions/s, ${echoes} echoes, ${resets} resets, errors ${
        JSON.stringify(errors)
      }`,
    );
    lastSessions = sessions;
  }
}, 1000);

await Promise.all(Array.from({ length: connections }, (_, i) => slot(i)));
clearInterval(reporter);
clearTimeout(timer);
for (const remove of removeSignals) remove();
server.kill("SIGTERM");
await server.status;
console.error(
  `stress_load: stopped after ${
    Math.round((performance.now() - began) / 1000)
  } s: ${sessions} sessions, ${echoes} echoes, ${resets} resets`,
);
