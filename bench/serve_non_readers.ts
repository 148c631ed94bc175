/**
 * Where the memory goes under `deno task serve` when 64 clients send 1 MiB
 * messages and never read, reconnecting from fresh addresses
 * (tests/start/serve_non_readers_test.ts's attack, issue #20). Samples every
 * 250 ms: the process's RSS and anonymous memory (/proc), what the kernel
 * queues on the service's sockets (`ss`: Send-Q, Recv-Q), and each worker's
 * counted bytes as /healthz reports them; then prints the peaks and the
 * incidents.
 *
 * Usage: `deno run -A bench/serve_non_readers.ts [SECONDS=12] [NON_READERS=64]`;
 * service settings in `EXTRA` as JSON.
 *
 * @module
 */
import type net from "node:net";
import { clientFrame, freePort } from "./wire.ts";
import { openFrom } from "./overload_attacks.ts";
import { startBystander } from "./overload_bystander.ts";
import { serveTaskArgs, startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const MiB = 1024 * 1024;
const [seconds = 12, nonReaders = 64] = Deno.args.map(Number);
const extra = JSON.parse(Deno.env.get("EXTRA") ?? "{}");
const port = freePort();
await using running = await startService({
  // As `deno task serve` has it: the watch reads and aborts the sockets
  // of this port (`ss`), and read none with the default one.
  PORT: String(port),
  BIND_ADDRESS: "127.0.0.1",
  LOG_FORMAT: "json",
  MAX_RSS_BYTES: String(300 * MiB),
  MEMORY_BUDGET_BYTES: String(96 * MiB),
  DENO_JOBS: "2",
  PATH: Deno.env.get("PATH") ?? "",
  ...extra,
}, { args: await serveTaskArgs(port) });
const log = readServiceLog<Record<string, unknown>>(running);
const pid = running.child.pid;

function proc(): { rss: number; anon: number; hwm: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kib("VmRSS"), anon: kib("RssAnon"), hwm: kib("VmHWM") };
}

function kernel(): { sendQ: number; recvQ: number; sockets: number } {
  const out = new Deno.Command("ss", {
    args: ["-tnH", "state", "established", `( sport = :${port} )`],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  let sendQ = 0, recvQ = 0, sockets = 0;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [r, s] = line.trim().split(/\s+/).map(Number);
    if (r === undefined || s === undefined || Number.isNaN(r)) continue;
    sockets++;
    recvQ += r;
    sendQ += s;
  }
  return { sendQ, recvQ, sockets };
}

const used = new Map<string, number>();
const mib = (n: number) => (n / MiB).toFixed(0);
const started = performance.now();
let peak = { rss: 0, sendQ: 0, recvQ: 0, used: 0 };
const poll = setInterval(async () => {
  const at = ((performance.now() - started) / 1000).toFixed(2);
  const p = proc();
  const k = kernel();
  let health = "";
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(240),
    });
    const body = await response.json();
    health = `worker used=${
      mib(body.memory.usedBytes)
    } conns=${body.connections}`;
    used.set(String(body.worker ?? "?"), body.memory.usedBytes);
  } catch {
    health = "healthz -";
  }
  peak = {
    rss: Math.max(peak.rss, p.rss),
    sendQ: Math.max(peak.sendQ, k.sendQ),
    recvQ: Math.max(peak.recvQ, k.recvQ),
    used: peak.used,
  };
  console.log(
    `${at}s rss=${mib(p.rss)} anon=${mib(p.anon)} sockets=${k.sockets} sendQ=${
      mib(k.sendQ)
    } recvQ=${mib(k.recvQ)} ${health}`,
  );
}, 250);

const bystander = startBystander(port, "127.0.0.2", 100);
const sockets = new Set<net.Socket>();
let n = 0;
const address = (i: number) =>
  `127.0.${44 + Math.floor(i / 254)}.${1 + i % 254}`;
const end = performance.now() + seconds * 1000;
const message = clientFrame(0x2, new Uint8Array(MiB));
await Promise.all(Array.from({ length: nonReaders }, async () => {
  while (performance.now() < end) {
    const opened = await openFrom(port, address(n++)).catch(() => undefined);
    if (!opened || opened.status !== 101) {
      opened?.socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    const socket = opened.socket;
    sockets.add(socket);
    socket.on("error", () => {});
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (performance.now() >= end) socket.destroy();
        else if (socket.writableLength < 4 * MiB) socket.write(message);
      }, 250);
      socket.once("close", () => {
        clearInterval(timer);
        resolve();
      });
    });
    sockets.delete(socket);
  }
}));
for (const socket of sockets) socket.destroy();
await new Promise((resolve) => setTimeout(resolve, 3000));
clearInterval(poll);
const report = await bystander.stop();
console.log(
  `peak rss=${mib(peak.rss)} hwm=${mib(proc().hwm)} sendQ=${
    mib(peak.sendQ)
  } recvQ=${mib(peak.recvQ)} connects=${n} bystander worstGap=${
    report.worstGapMs ?? "?"
  } closes=${JSON.stringify([...report.closes])}`,
);
for (const record of log.records) {
  if (record.event === "overload_incident") console.log(JSON.stringify(record));
}
const closes = new Map<string, number>();
for (const record of log.records) {
  if (record.event !== "ws_close") continue;
  const key = `${record.code} ${record.limit ?? ""}`;
  closes.set(key, (closes.get(key) ?? 0) + 1);
}
console.log("closes", JSON.stringify([...closes]));
