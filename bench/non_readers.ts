/**
 * Non-reader floods (issue #20): raw clients from several loopback addresses
 * each send messages and never read their echoes (`echo` mode), or join one
 * room and never read while one member sends within its burst (`room`
 * mode, the stranger's `roomamp`). A bystander on its own address echoes
 * every 100 ms; a newcomer tries an upgrade every second. Prints, once a
 * second, what the service says (`/healthz`: RSS, memory counted, shedding)
 * and what the kernel holds on the service's sockets (`ss`: Send-Q and
 * Recv-Q summed), then the incidents, closes by code, the newcomers'
 * statuses and the bystander's worst gap.
 *
 * Usage:
 * `deno run -A bench/non_readers.ts echo [ADDRESSES=8] [PER_ADDRESS=32] [MESSAGES=6] [MESSAGE_KIB=1024] [SECONDS=15]`
 * `deno run -A bench/non_readers.ts room [MEMBERS=63] [MESSAGES=16] [MESSAGE_KIB=1024] [SECONDS=15]`
 * Settings for the service go in `EXTRA` as JSON (`EXTRA='{"MAX_RSS_BYTES":"209715200"}'`).
 *
 * @module
 */
import { clientFrame } from "./wire.ts";
import { openFrom } from "./overload_attacks.ts";
import { startBystander } from "./overload_bystander.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";
import type net from "node:net";

const MiB = 1024 * 1024;
const [mode = "echo", ...rest] = Deno.args;
const numbers = rest.map(Number);
const extra = JSON.parse(Deno.env.get("EXTRA") ?? "{}");
await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  LOG_FORMAT: "json",
  PATH: Deno.env.get("PATH") ?? "",
  ...extra,
});
const { port } = service;
const log = readServiceLog<Record<string, unknown>>(service);
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(1);

/** Send-Q and Recv-Q summed over the service's sockets, and how many have a Send-Q. */
function kernelQueues(): string {
  const out = new Deno.Command("ss", {
    args: ["-tnH", "state", "established", `( sport = :${port} )`],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  let recvQ = 0, sendQ = 0, stuck = 0, sockets = 0;
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [r, s] = line.trim().split(/\s+/).map(Number);
    if (r === undefined || s === undefined || Number.isNaN(r)) continue;
    sockets++;
    recvQ += r;
    sendQ += s;
    if (s > 0) stuck++;
  }
  return `sockets=${sockets} sendQ=${
    (sendQ / MiB).toFixed(0)
  }MiB(${stuck}) recvQ=${(recvQ / MiB).toFixed(0)}MiB`;
}

const bystander = startBystander(port, "127.0.0.2", 100);
const samples: string[] = [];
let peakRss = 0;
let peakUsed = 0;
const poll = setInterval(async () => {
  const at = seconds();
  const kernel = kernelQueues();
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(900),
    });
    const health = await response.json();
    const { rssBytes, usedBytes, shedding, shed } = health.memory;
    peakRss = Math.max(peakRss, rssBytes);
    peakUsed = Math.max(peakUsed, usedBytes);
    samples.push(
      `${at}s ${response.status} conns=${health.connections} rss=${
        (rssBytes / MiB).toFixed(0)
      } used=${(usedBytes / MiB).toFixed(0)} shedding=${shedding} shed=${
        JSON.stringify(shed)
      } incidents=${health.overload.incidents} ${kernel}`,
    );
  } catch (error) {
    samples.push(`${at}s healthz ${(error as Error).name} ${kernel}`);
  }
}, 1000);
const newcomers: string[] = [];
const probe = setInterval(async () => {
  const at = seconds();
  try {
    const opened = await openFrom(port, "127.0.0.9", { timeoutMs: 900 });
    newcomers.push(`${at}:${opened.status}`);
    opened.socket.destroy();
  } catch {
    newcomers.push(`${at}:x`);
  }
}, 1000);

const sockets: net.Socket[] = [];
const statuses = new Map<number, number>();
let senderClosedAt = "";
async function open(
  address: string,
  path: string,
): Promise<net.Socket | undefined> {
  try {
    const opened = await openFrom(port, address, { path, timeoutMs: 10_000 });
    statuses.set(opened.status, (statuses.get(opened.status) ?? 0) + 1);
    opened.socket.on("error", () => {});
    sockets.push(opened.socket);
    if (opened.status !== 101) return undefined;
    opened.socket.pause();
    return opened.socket;
  } catch {
    statuses.set(0, (statuses.get(0) ?? 0) + 1);
    return undefined;
  }
}

let hold: number;
if (mode === "room") {
  const [members = 63, messages = 16, kib = 1024, secs = 15] = numbers;
  hold = secs;
  for (let i = 0; i < members; i++) {
    await open(`127.0.30.${1 + Math.floor(i / 32)}`, "/room/amp");
  }
  const sender = await open("127.0.31.1", "/room/amp");
  sender?.resume();
  sender?.on("close", () => senderClosedAt = seconds());
  const frame = clientFrame(0x2, new Uint8Array(kib * 1024));
  for (let k = 0; k < messages && sender && !sender.destroyed; k++) {
    sender.write(frame);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.log(`${seconds()}s sent ${messages} x ${kib} KiB`);
} else {
  const [addresses = 8, perAddress = 32, messages = 6, kib = 1024, secs = 15] =
    numbers;
  hold = secs;
  const frame = clientFrame(0x2, new Uint8Array(kib * 1024).fill(7));
  // Every client connects first, then all send: the flood arrives at once.
  const opened: net.Socket[] = [];
  await Promise.all(
    Array.from({ length: addresses }, async (_, a) => {
      for (let c = 0; c < perAddress; c++) {
        const socket = await open(`127.0.20.${a + 1}`, "/echo");
        if (socket) opened.push(socket);
      }
    }),
  );
  console.log(`${seconds()}s opened ${JSON.stringify([...statuses])}`);
  for (const socket of opened) {
    for (let m = 0; m < messages; m++) socket.write(frame);
  }
}
await new Promise((resolve) => setTimeout(resolve, hold * 1000));
for (const socket of sockets) socket.destroy();
await new Promise((resolve) => setTimeout(resolve, 3000));
clearInterval(poll);
clearInterval(probe);
const report = await bystander.stop();
console.log(samples.join("\n"));
console.log(`newcomers ${newcomers.join(" ")}`);
for (const record of log.records) {
  if (record.event !== "overload_incident") continue;
  const { cause, action, rssBytes, usedBytes, closed, struck, kernel, unseen } =
    record as {
      cause: string;
      action: string;
      rssBytes: number;
      usedBytes: number;
      closed: number;
      struck: string[];
      kernel?: string;
      unseen?: unknown;
    };
  console.log(
    `incident ${cause} ${action} rss=${(rssBytes / MiB).toFixed(0)} used=${
      (usedBytes / MiB).toFixed(0)
    } closed=${closed} struck=${struck} kernel=${kernel} unseen=${
      JSON.stringify(unseen)
    }`,
  );
}
let aborted = 0;
for (const record of log.records) {
  if (record.event !== "sockets_aborted") continue;
  aborted += Number(record.aborted);
  if (record.reason) console.log(`sockets_aborted reason: ${record.reason}`);
}
const closes = new Map<string, number>();
for (const record of log.records) {
  if (record.event !== "ws_close") continue;
  const key = `${record.code}${record.limit ? ` ${record.limit}` : ""}`;
  closes.set(key, (closes.get(key) ?? 0) + 1);
}
console.log(
  JSON.stringify({
    mode,
    upgrades: Object.fromEntries(statuses),
    peakRssMiB: Math.round(peakRss / MiB),
    peakUsedMiB: Math.round(peakUsed / MiB),
    aborted,
    closes: Object.fromEntries(closes),
    senderClosedAt,
    bystander: {
      echoes: report.echoes,
      worstGapMs: Math.round(report.worstGapMs),
      reconnects: report.reconnects,
      closes: Object.fromEntries(report.closes),
      refusals: Object.fromEntries(report.refusals),
    },
  }),
);
Deno.exit(0);
