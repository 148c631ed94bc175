/**
 * Measures server RSS growth while one raw client tries to send 1 GiB of
 * 64 KiB binary frames without reading its echoes (issue 3's figure), and
 * checks that a second client still gets its echo.
 *
 * Usage: `deno run -A bench/slow_reader.ts` (starts `deno task start` on a free port).
 */
const MiB = 1024 * 1024;
const server = new Deno.Command("deno", {
  args: ["task", "start"],
  env: { PORT: "0", HOSTNAME: "127.0.0.1", NO_COLOR: "1" },
  stdout: "piped",
  stderr: "null",
}).spawn();
const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
let banner = "";
while (!banner.includes("\n")) banner += (await reader.read()).value ?? "";
const port = Number(banner.match(/:(\d+)\//)![1]);
// `deno task` runs the service as a child; find it by its listening port.
const pid = Number(
  new TextDecoder().decode(
    (await new Deno.Command("ss", { args: ["-Hltnp", `sport = :${port}`] })
      .output()).stdout,
  ).match(/pid=(\d+)/)![1],
);
const rssMiB = () =>
  Number(
    Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+)/)![1],
  ) / 1024;

const before = rssMiB();
const conn = await Deno.connect({ hostname: "127.0.0.1", port });
await conn.write(new TextEncoder().encode(
  "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
));
await conn.read(new Uint8Array(1024));
const payload = 64 * 1024;
const frame = new Uint8Array(14 + payload);
frame[0] = 0x82;
frame[1] = 0x80 | 127;
new DataView(frame.buffer).setBigUint64(2, BigInt(payload));
let sent = 0;
let peak = before;
const writer = (async () => {
  try {
    while (sent < 1024 * MiB) {
      let offset = 0;
      while (offset < frame.length) {
        offset += await conn.write(frame.subarray(offset));
      }
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
const echo = await new Promise((resolve) => {
  bystander.onopen = () => bystander.send("bystander");
  bystander.onmessage = (event) => resolve(event.data);
});
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
Deno.kill(pid, "SIGTERM");
await reader.cancel();
await server.status;
