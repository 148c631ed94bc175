/**
 * `/sse` memory over time: opens STREAMS streams (default 1,000) from raw
 * clients that read every event, samples the server's RSS every 10 s for
 * SECONDS (default 300), and prints RSS per open stream and the growth per
 * stream per second over the run (issue 21's figure: 2.4 KiB per stream per
 * second before the fix, flat after). Pass `--no-read` to open streams whose
 * clients never read.
 *
 * Usage: `deno run -A bench/sse_memory.ts [--no-read] [STREAMS] [SECONDS]`
 * (starts the service with the `deno task start` flags on a free loopback
 * port, MAX_CONNECTIONS_PER_IP=0 and a lifetime past the run).
 *
 * @module
 */
import { startService } from "./service.ts";
import { writeAll } from "./wire.ts";

const read = !Deno.args.includes("--no-read");
const [streams = 1000, seconds = 300] = Deno.args.filter((arg) =>
  !arg.startsWith("--")
).map(Number);
const SAMPLE_MS = 10_000;

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  MAX_CONNECTIONS_PER_IP: "0",
  MAX_RSS_BYTES: "0",
  MEMORY_BUDGET_BYTES: "0",
  SSE_LIFETIME_SECONDS: String(seconds + 120),
  // On a busy machine the overload watch takes a late loop with no messages
  // flowing (SSE only) for a control-frame flood and recycles the listener.
  EVENT_LOOP_STALL_MS: "0",
}, { stderr: "null" });
const rssKiB = () =>
  Number(
    Deno.readTextFileSync(`/proc/${service.child.pid}/status`).match(
      /VmRSS:\s+(\d+)/,
    )![1],
  );

const idleKiB = rssKiB();
const request = new TextEncoder().encode(
  `GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
);
const connections: Deno.TcpConn[] = [];
let eventBytes = 0;
for (let i = 0; i < streams; i++) {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: service.port,
  });
  connections.push(conn);
  await writeAll(conn, request);
  if (!read) continue;
  (async () => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (let n; (n = await conn.read(buffer)) !== null;) eventBytes += n;
    } catch {
      // Closed at the end of the run.
    }
  })();
}
const health = async () =>
  await (await fetch(`http://127.0.0.1:${service.port}/healthz`)).json();
console.log(
  `${streams} streams (${read ? "read" : "not read"}), idle RSS ${
    (idleKiB / 1024).toFixed(1)
  } MiB; health: ${(await health()).streams} streams open`,
);
const samples: Array<[number, number]> = [];
const started = performance.now();
for (let t = 0; t <= seconds * 1000; t += SAMPLE_MS) {
  const wait = started + t - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const kib = rssKiB();
  samples.push([t / 1000, kib]);
  console.log(
    `t=${String(t / 1000).padStart(3)} s  RSS ${(kib / 1024).toFixed(1)} MiB  ${
      ((kib - idleKiB) / streams).toFixed(2)
    } KiB per stream  events read ${(eventBytes / 1024).toFixed(0)} KiB`,
  );
}
// Least-squares slope of RSS over time, after the first minute's warm-up.
const late = samples.filter(([t]) => t >= Math.min(60, seconds / 2));
const meanT = late.reduce((sum, [t]) => sum + t, 0) / late.length;
const meanR = late.reduce((sum, [, r]) => sum + r, 0) / late.length;
const slope = late.reduce((sum, [t, r]) => sum + (t - meanT) * (r - meanR), 0) /
  late.reduce((sum, [t]) => sum + (t - meanT) ** 2, 0);
console.log(
  `growth after warm-up: ${
    (slope * 1024 / streams).toFixed(1)
  } bytes per stream per second (${(slope / 1024 * 60).toFixed(2)} MiB/min)`,
);
console.log(`health at the end: ${(await health()).streams} streams open`);
for (const conn of connections) {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
