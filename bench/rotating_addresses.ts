/**
 * A stranger rotating loopback addresses (issue #20): `requests` asks for
 * `/metrics` as fast as it can from ADDRESSES addresses (127.0.40.x, one
 * /24), 4 at a time per address, each on a new TCP connection; `streams`
 * opens 4 `/stream?size=65536&interval=0` per address and reads all of it.
 * Meanwhile one bystander on 127.0.0.1 sends a 32-byte message every 100 ms
 * and times its echo. Prints what the stranger got per second (requests
 * answered 200 and 429, or stream MiB), and the bystander's worst and 99th
 * percentile echo, and its worst from 3 s on (past the bursts).
 *
 * Usage: `deno run -A bench/rotating_addresses.ts requests|streams
 * [--addresses 32] [--seconds 10]`. A fresh service with the `deno task
 * start` flags (and `ss` on PATH); the stranger runs in a child process
 * (`--stranger`), so its work does not delay the bystander's clock.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { upgradeRequest } from "./wire.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    addresses: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
    stranger: { type: "string" },
  },
  allowPositionals: true,
});
const mode = args.positionals[0];
if (mode !== "requests" && mode !== "streams") {
  console.error(
    "Usage: deno run -A bench/rotating_addresses.ts requests|streams [--addresses 32] [--seconds 10]",
  );
  Deno.exit(2);
}
const ADDRESSES = Number(args.values.addresses);
const HOLD_MS = Number(args.values.seconds) * 1000;
const PER_ADDRESS = 4;

if (args.values.stranger) {
  const counts = await stranger(Number(args.values.stranger));
  console.log(JSON.stringify(counts));
  Deno.exit(0);
}

/** The stranger's side: what it got, by status or in bytes. */
async function stranger(port: number): Promise<Record<string, number>> {
  const until = performance.now() + HOLD_MS;
  const counts: Record<string, number> = {};
  const count = (key: string, by = 1) => counts[key] = (counts[key] ?? 0) + by;
  const sockets = new Set<net.Socket>();
  const request = (localAddress: string) =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress });
      sockets.add(socket);
      let head = "";
      socket.on("connect", () => {
        socket.write(
          mode === "requests"
            ? "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            : upgradeRequest("/stream?count=100000&size=65536&interval=0"),
        );
      });
      socket.on("data", (chunk: Uint8Array) => {
        if (head.length < 12) {
          head += new TextDecoder().decode(chunk.subarray(0, 12));
          if (head.length >= 12) count(`status ${head.slice(9, 12)}`);
        }
        if (mode === "streams") count("bytes", chunk.length);
        else if (head.length >= 12) socket.destroy();
      });
      const done = () => {
        sockets.delete(socket);
        resolve();
      };
      socket.on("error", () => count("error"));
      // An answer that never comes is counted, not waited for.
      socket.setTimeout(5000, () => {
        count("timeout");
        socket.destroy();
      });
      socket.on("close", done);
      if (mode === "streams") {
        setTimeout(
          () => socket.destroy(),
          Math.max(0, until - performance.now()),
        );
      }
    });
  const one = async (localAddress: string) => {
    while (performance.now() < until) await request(localAddress);
  };
  const all = [];
  for (let a = 1; a <= ADDRESSES; a++) {
    for (let i = 0; i < PER_ADDRESS; i++) all.push(one(`127.0.40.${a}`));
  }
  await Promise.all(all);
  for (const socket of sockets) socket.destroy();
  return counts;
}

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  PATH: Deno.env.get("PATH") ?? "",
});
const port = service.port;
// Read, so that a full pipe never holds the service's log (a line a request).
const log = readServiceLog(service);
const socket = new WebSocket(`ws://127.0.0.1:${port}/echo`);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
const echoes: number[] = [];
/** Echoes of messages sent 3 s or more into the attack: past the bursts. */
const steady: number[] = [];
const sent = new Map<string, number>();
let startedAt = Infinity;
let unanswered = 0;
socket.onmessage = (event) => {
  const at = sent.get(String(event.data));
  if (at !== undefined) echoes.push(performance.now() - at);
  if (at !== undefined && at - startedAt >= 3000) {
    steady.push(performance.now() - at);
  }
  sent.delete(String(event.data));
};
const loadBefore = Deno.loadavg()[0];
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    import.meta.filename!,
    mode,
    "--stranger",
    String(port),
    "--addresses",
    String(ADDRESSES),
    "--seconds",
    String(HOLD_MS / 1000),
  ],
  stdout: "piped",
}).spawn();
startedAt = performance.now();
let seq = 0;
const timer = setInterval(() => {
  const text = `bystander ${++seq}`.padEnd(32, ".");
  sent.set(text, performance.now());
  socket.send(text);
}, 100);
const output = await child.output();
clearInterval(timer);
// The last echoes get a second to arrive.
await new Promise((resolve) => setTimeout(resolve, 1000));
unanswered = sent.size;
socket.close();
const counts = JSON.parse(new TextDecoder().decode(output.stdout));
const sorted = echoes.toSorted((a, b) => a - b);
const seconds = HOLD_MS / 1000;
console.log(JSON.stringify({
  mode,
  addresses: ADDRESSES,
  seconds,
  loadBefore,
  loadAfter: Deno.loadavg()[0],
  stranger: mode === "requests"
    ? {
      okPerSecond: Math.round((counts["status 200"] ?? 0) / seconds),
      refusedPerSecond: Math.round((counts["status 429"] ?? 0) / seconds),
      errors: counts.error ?? 0,
      timeouts: counts.timeout ?? 0,
    }
    : {
      streamMiBPerSecond: +((counts.bytes ?? 0) / seconds / 2 ** 20).toFixed(1),
      upgrades: counts["status 101"] ?? 0,
      refused: counts["status 429"] ?? 0,
    },
  bystander: {
    echoes: echoes.length,
    unanswered,
    worstMs: Math.round(sorted.at(-1) ?? NaN),
    p99Ms: Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? NaN),
    worstFrom3sMs: Math.round(Math.max(...steady)),
  },
  incidents: log.lines.filter((line) => line.startsWith("overload incident"))
    .length,
}));
