/**
 * The stall rule on a busy core (issue #20): the service (the `deno task
 * start` flags, `ss` on PATH) is pinned to one CPU with `taskset` and HOGS
 * busy loops are pinned beside it, bounded in time. Phase `idle`: only a
 * bystander on 127.0.0.1 echoing every 100 ms, 12 s. Phase `pong`: a pong
 * flood from 127.0.0.2 until the first recycle (at most 20 s). Prints each
 * phase's incidents (cause, action, CPU, struck) and the bystander's worst
 * echo: on a busy machine an idle service must not be recycled, and a flood
 * must still be.
 *
 * Usage: `deno run -A bench/busy_machine_stall.ts [--hogs 3] [--cpu 1]`
 * (Linux, util-linux's `taskset`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";
import { controlFlood } from "./overload_attacks.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    hogs: { type: "string", default: "3" },
    cpu: { type: "string", default: "1" },
  },
});
const HOGS = Number(args.values.hogs);
const CPU = args.values.cpu!;
const IDLE_MS = 12_000;
const FLOOD_MS = 20_000;

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  LOG_FORMAT: "json",
  PATH: Deno.env.get("PATH") ?? "",
});
const log = readServiceLog<Record<string, unknown>>(service);
await new Deno.Command("taskset", {
  args: ["-a", "-p", "-c", CPU, String(service.child.pid)],
  stdout: "null",
}).output();
const hogFor = (ms: number) =>
  Array.from({ length: HOGS }, () =>
    new Deno.Command("taskset", {
      args: [
        "-c",
        CPU,
        Deno.execPath(),
        "eval",
        `const end = Date.now() + ${ms}; while (Date.now() < end);`,
      ],
    }).output());

const socket = new WebSocket(`ws://127.0.0.1:${service.port}/echo`);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
let worst = 0;
const sent = new Map<string, number>();
socket.onmessage = (event) => {
  const at = sent.get(String(event.data));
  if (at !== undefined) worst = Math.max(worst, performance.now() - at);
  sent.delete(String(event.data));
};
let seq = 0;
const timer = setInterval(() => {
  const text = `bystander ${++seq}`;
  sent.set(text, performance.now());
  if (socket.readyState === WebSocket.OPEN) socket.send(text);
}, 100);

const incidents = () =>
  log.records.filter((record) => record.event === "overload_incident");
const summary = (from: number) =>
  incidents().slice(from).map((record) =>
    `${record.cause} ${record.action} cpu=${record.cpuPercent}% struck=${
      record.struck ?? ""
    }`
  );

const load = () => (Deno.loadavg()[0] ?? 0).toFixed(1);
const phases: Record<string, unknown> = { hogs: HOGS, loadBefore: load() };
const hogs = hogFor(IDLE_MS + FLOOD_MS + 5000);
await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
phases.idle = { incidents: summary(0), bystanderWorstMs: Math.round(worst) };
worst = 0;
const before = incidents().length;
const recycled = new AbortController();
const watching = setInterval(() => {
  if (incidents().slice(before).some((r) => r.action === "recycled")) {
    recycled.abort();
  }
}, 50);
await controlFlood(service.port, "127.0.0.2", "pong", FLOOD_MS, {
  signal: recycled.signal,
});
clearInterval(watching);
// The incident's line comes once its recycle is done.
await new Promise((resolve) => setTimeout(resolve, 3000));
phases.pong = {
  incidents: summary(before),
  bystanderWorstMs: Math.round(worst),
};
phases.loadAfter = load();
clearInterval(timer);
socket.close();
await Promise.all(hogs);
console.log(JSON.stringify(phases));
