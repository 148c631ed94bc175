/**
 * What one waiting (`?delay=`) echo costs the server: the service with its
 * start flags, a raw client that sends N empty frames to
 * `/echo?delay=10000` and never reads, and the service's RSS growth divided
 * by N, read before the first echo is due. QUEUED_MESSAGE_COST in
 * lib/connection/apply_options.ts comes from this.
 *
 *     deno run -A bench/delay_cost.ts [frames=100000]
 *
 * @module
 */
import { clientFrame, openRawWebSocket, writeAll } from "./wire.ts";
import { startService } from "./service.ts";

const frames = Number(Deno.args[0] ?? 100_000);
await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
  RATE_LIMIT_BYTES_PER_SECOND: "0",
  MAX_BUFFERED_BYTES: "0",
  MEMORY_BUDGET_BYTES: "0",
  MAX_RSS_BYTES: "0",
});
const rss = () =>
  Number(
    /VmRSS:\s+(\d+)/.exec(
      Deno.readTextFileSync(`/proc/${service.child.pid}/status`),
    )![1],
  ) * 1024;
const { conn } = await openRawWebSocket(service.port, {
  path: "/echo?delay=10000",
});
const frame = clientFrame(0x2, new Uint8Array(0));
const batch = new Uint8Array(frame.length * 1000);
for (let i = 0; i < 1000; i++) batch.set(frame, i * frame.length);
const before = rss();
const started = Date.now();
for (let sent = 0; sent < frames; sent += 1000) await writeAll(conn, batch);
// Give the service time to take them in, well before the first is due.
await new Promise((resolve) => setTimeout(resolve, 2000));
const grown = rss() - before;
console.log(
  `${frames} delayed empty echoes: RSS +${(grown / 2 ** 20).toFixed(1)} MiB, ${
    Math.round(grown / frames)
  } bytes each (${Date.now() - started} ms)`,
);
conn.close();
