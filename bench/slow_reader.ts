/**
 * Measures server RSS growth while one raw client tries to send 1 GiB of
 * 64 KiB binary frames without reading its echoes (issue 3's figure), and
 * checks that a second client still gets its echo.
 *
 * Usage: `deno run -A bench/slow_reader.ts` (starts the service with the
 * `deno task start` flags on a free loopback port).
 */
import {
  clientFrame,
  openRawWebSocket,
  withDeadline,
  writeAll,
} from "./wire.ts";
import { startService } from "./service.ts";

const MiB = 1024 * 1024;
// The start task's own flags, run directly, so the child's pid is the server's.
await using service = await startService(
  { PORT: "0", BIND_ADDRESS: "127.0.0.1" },
  { stderr: "null" },
);
const { child: server, port } = service;
const rssMiB = () =>
  Number(
    Deno.readTextFileSync(`/proc/${server.pid}/status`).match(
      /VmRSS:\s+(\d+)/,
    )![1],
  ) / 1024;

const before = rssMiB();
const { conn } = await openRawWebSocket(port);
const payload = 64 * 1024;
const frame = clientFrame(0x2, new Uint8Array(payload));
let sent = 0;
let peak = before;
const writer = (async () => {
  try {
    while (sent < 1024 * MiB) {
      await writeAll(conn, frame);
      sent += payload;
    }
  } catch {
    // Closed below while a write is stuck.
  }
})();
const started = performance.now();
while (performance.now() - started < 15_000 && sent < 1024 * MiB) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  peak = Math.max(peak, rssMiB());
}
const bystander = new WebSocket(`ws://127.0.0.1:${port}/echo`);
const echo = await withDeadline(
  new Promise((resolve) => {
    bystander.onopen = () => bystander.send("bystander");
    bystander.onmessage = (event) => resolve(event.data);
  }),
  5000,
  `the bystander's echo on ws://127.0.0.1:${port}/echo`,
);
bystander.close();
console.log(JSON.stringify({
  rssBeforeMiB: before.toFixed(1),
  rssPeakMiB: peak.toFixed(1),
  growthMiB: (peak - before).toFixed(1),
  clientSentMiB: (sent / MiB).toFixed(1),
  bystanderEcho: echo,
}));
conn.close();
await writer;
