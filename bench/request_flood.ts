/**
 * What a flood of plain HTTP requests costs in log lines: the service with
 * `deno task start`'s flags in its own process, 16 keep-alive loops asking
 * for `/metrics` from each of `ADDRESSES` loopback addresses (127.0.33.x)
 * for `SECONDS`, and a reading bystander on 127.0.34.1 (a message every
 * 100 ms). Prints the answers a second by status, the service's log lines a
 * second by kind (`http refused`, `http`, other) and the bystander's echoes
 * and worst gap. `--served` turns the request rate off
 * (RATE_LIMIT_IP_REQUESTS_PER_SECOND=0): every request is served and logged
 * as served. Usage: `deno run -A bench/request_flood.ts [SECONDS=10]
 * [ADDRESSES=1] [--served]`.
 *
 * @module
 */
import http from "node:http";
import { startBystander } from "./overload_bystander.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const served = Deno.args.includes("--served");
const [seconds = 10, addresses = 1] = Deno.args.filter((arg) =>
  !arg.startsWith("--")
).map(Number);

const service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  ...(served ? { RATE_LIMIT_IP_REQUESTS_PER_SECOND: "0" } : {}),
});
const log = readServiceLog(service);
const bystander = startBystander(service.port, "127.0.34.1");
const statuses = new Map<number, number>();
const agents = Array.from(
  { length: addresses },
  (_, i) =>
    new http.Agent({
      keepAlive: true,
      maxSockets: 16,
      localAddress: `127.0.33.${i + 1}`,
    }),
);
const load = Deno.loadavg()[0]!.toFixed(1);
const firstLine = log.lines.length;
const started = performance.now();
const until = started + seconds * 1000;
const get = (agent: http.Agent) =>
  new Promise<void>((resolve) => {
    const request = http.get({
      host: "127.0.0.1",
      port: service.port,
      path: "/metrics",
      agent,
    }, (response) => {
      const status = response.statusCode ?? 0;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      response.resume();
      response.on("end", () => resolve());
    });
    request.on("error", () => {
      statuses.set(0, (statuses.get(0) ?? 0) + 1);
      resolve();
    });
  });
await Promise.all(
  agents.flatMap((agent) =>
    Array.from({ length: 16 }, async () => {
      while (performance.now() < until) await get(agent);
    })
  ),
);
const elapsed = (performance.now() - started) / 1000;
// The last batch of log lines is at most 50 ms old (LOG_FLUSH_MS); the
// refusals' summaries come within a second.
await new Promise((resolve) => setTimeout(resolve, 1500));
const lines = { refused: 0, served: 0, other: 0 };
for (const line of log.lines.slice(firstLine)) {
  if (line.startsWith("http refused ")) lines.refused++;
  else if (line.startsWith("http ")) lines.served++;
  else lines.other++;
}
const report = await bystander.stop();
for (const agent of agents) agent.destroy();
const perSecond = (n: number) => Math.round(n / elapsed);
console.log(JSON.stringify({
  mode: served ? "served" : "rate limited",
  addresses,
  load,
  answersPerSecond: Object.fromEntries(
    [...statuses].map(([status, n]) => [status, perSecond(n)]),
  ),
  logLinesPerSecond: {
    refused: perSecond(lines.refused),
    served: perSecond(lines.served),
    other: perSecond(lines.other),
  },
  bystander: {
    echoes: report.echoes,
    worstGapMs: Math.round(report.worstGapMs),
    reconnects: report.reconnects,
  },
}));
await service[Symbol.asyncDispose]();
await log.ended();
