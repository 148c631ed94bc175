/**
 * What a crowd of refused upgrades costs in log lines: the service with
 * `deno task start`'s flags in its own process at MAX_CONNECTIONS=1, one
 * WebSocket holding the slot, and `ADDRESSES` loops from 127.0.41.x on
 * (256 to a /24) each asking for an upgrade, answered `503`, then again at
 * once or `PAUSE_MS` later, for `SECONDS`. Prints the answers by status and
 * the service's log lines by kind: `ws refused` at once (an address's first)
 * and as a count (`repeated=`), `http` lines by status, other. Usage:
 * `deno run -A bench/refused_lines.ts [SECONDS=5] [ADDRESSES=8]
 * [PAUSE_MS=0]`.
 *
 * @module
 */
import http from "node:http";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const [seconds = 5, addresses = 8, pauseMs = 0] = Deno.args.map(Number);

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  MAX_CONNECTIONS: "1",
});
const log = readServiceLog(service);
const held = new WebSocket(`ws://127.0.0.1:${service.port}/echo`);
await new Promise((resolve, reject) => {
  held.onopen = resolve;
  held.onerror = reject;
});
const load = Deno.loadavg()[0]!.toFixed(1);
const firstLine = log.lines.length;
const statuses = new Map<number, number>();
const counted = (status: number) =>
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
const attempt = (localAddress: string) =>
  new Promise<void>((resolve) => {
    const request = http.get({
      host: "127.0.0.1",
      port: service.port,
      path: "/echo",
      localAddress,
      agent: false,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
      },
    });
    request.on("response", (response) => {
      counted(response.statusCode ?? 0);
      response.resume();
      response.on("end", () => resolve());
    });
    request.on("upgrade", (_response, socket) => {
      counted(101);
      socket.destroy();
      resolve();
    });
    request.on("error", () => {
      counted(0);
      resolve();
    });
  });
const until = performance.now() + seconds * 1000;
await Promise.all(
  Array.from({ length: addresses }, async (_, i) => {
    const address = `127.0.${41 + (i >> 8)}.${(i & 255) + 1}`;
    while (performance.now() < until) {
      await attempt(address);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  }),
);
held.close();
// The last counts come within a second (REFUSAL_LOG_INTERVAL_MS) and their
// batch within 50 ms (LOG_FLUSH_MS).
const flushed = performance.now() + 1200;
while (performance.now() < flushed) {
  await new Promise((r) => setTimeout(r, 100));
}
const lines = new Map<string, number>();
for (const line of log.lines.slice(firstLine)) {
  const kind = line.startsWith("ws refused ")
    ? (line.includes(" repeated=")
      ? "ws refused, count"
      : "ws refused, at once")
    : line.startsWith("http ")
    ? `http status=${/ status=(\d+)/.exec(line)?.[1]}`
    : "other";
  lines.set(kind, (lines.get(kind) ?? 0) + 1);
}
console.log(JSON.stringify({
  load,
  seconds,
  addresses,
  pauseMs,
  answers: Object.fromEntries(statuses),
  lines: Object.fromEntries(lines),
}));
