/**
 * What a closed slow reader leaves behind on the server: descriptors and
 * memory, sampled each 100 ms for 5 s after the service closes it (issue
 * #12, item 4). Starts the service with the start task's flags, sends 64 KiB
 * binary frames without reading, and prints one line per sample.
 *
 *     deno run -A bench/slow_reader_teardown.ts
 *
 * @module
 */
import { clientFrame, openRawWebSocket, writeAll } from "./wire.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const sockets = (pid: number) => {
  let count = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      if (
        Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")
      ) count++;
    } catch { /* closed meanwhile */ }
  }
  return count;
};
const rssMiB = (pid: number) =>
  Number(
    /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1],
  ) / 1024;

await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  RATE_LIMIT_BYTES_PER_SECOND: "0",
  RATE_LIMIT_MESSAGES_PER_SECOND: "0",
});
const pid = service.child.pid;
const log = readServiceLog(service);
console.log(`idle: sockets=${sockets(pid)} rss=${rssMiB(pid).toFixed(1)} MiB`);
const { conn } = await openRawWebSocket(service.port);
const frame = clientFrame(0x2, new Uint8Array(64 * 1024));
let closedAt = 0;
const writer = (async () => {
  try {
    for (let i = 0; i < 16 * 1024; i++) await writeAll(conn, frame);
  } catch (error) {
    closedAt = performance.now();
    console.log(
      `client write failed: ${(error as Error).name} ${
        (error as Error).message
      }`,
    );
  }
})();
const start = performance.now();
while (performance.now() - start < 20_000) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  const line = log.lines.find((line) =>
    /ws close .*limit=slow_reader/.test(line)
  );
  if (line) {
    console.log(`server: ${line}`);
    break;
  }
}
for (let i = 0; i <= Number(Deno.args[0] ?? 50); i++) {
  if (i % 50 === 0) {
    console.log(
      `+${(i / 10).toFixed(1)} s: sockets=${sockets(pid)} rss=${
        rssMiB(pid).toFixed(1)
      } MiB`,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
conn.close();
await writer;
console.log(
  `client gone: sockets=${sockets(pid)} rss=${
    rssMiB(pid).toFixed(1)
  } MiB; write failed ${closedAt ? "yes" : "no"}`,
);
