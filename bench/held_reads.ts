/**
 * What Deno keeps per WebSocket after it has read a large message, with
 * nothing queued: N clients each send one message of KIB KiB and read its
 * echo, then stay connected and idle; the service's RSS and counted bytes
 * (`/healthz`) are printed before, after the echoes, and after the clients
 * have gone. Service settings in `EXTRA` as JSON.
 *
 * Usage: `deno run -A bench/held_reads.ts [N=64] [KIB=1024] [MESSAGES=1] [PATH=/echo]`
 * (a path that sends nothing back, `/room/NAME` with one member each, shows
 * what reading alone keeps).
 *
 * @module
 */
import { startService } from "./service.ts";

const [n = 64, kib = 1024, messages = 1] = Deno.args.slice(0, 3).map(Number);
const path = Deno.args[3] ?? "/echo";
const echoed = path === "/echo";
const extra = JSON.parse(Deno.env.get("EXTRA") ?? "{}");
await using service = await startService({
  PORT: "0",
  BIND_ADDRESS: "127.0.0.1",
  LOG_FORMAT: "json",
  MAX_CONNECTIONS_PER_IP: "0",
  PATH: Deno.env.get("PATH") ?? "",
  ...extra,
});
const pid = service.child.pid;
const MiB = 1024 * 1024;
function rss(): string {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return `${(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024).toFixed(0)} MiB`;
}
async function health(): Promise<string> {
  const body = await (await fetch(`http://127.0.0.1:${service.port}/healthz`))
    .json();
  return `counted=${
    (body.memory.usedBytes / MiB).toFixed(1)
  } MiB conns=${body.connections}`;
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 3000));
await settle();
console.log(`idle: rss=${rss()} ${await health()}`);
const sockets = await Promise.all(
  Array.from({ length: n }, () =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(
        `ws://127.0.0.1:${service.port}${path}${
          echoed ? "" : crypto.randomUUID()
        }`,
      );
      socket.binaryType = "arraybuffer";
      socket.onopen = () => resolve(socket);
      socket.onerror = (event) => reject(event);
    })),
);
await settle();
console.log(`${n} open: rss=${rss()} ${await health()}`);
const payload = new Uint8Array(kib * 1024);
// A client the service sheds never gets its echo: the wait ends anyway.
await Promise.all(sockets.map((socket) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, 10_000);
    let left = messages;
    socket.onmessage = () => {
      if (--left === 0) resolve();
    };
    for (let i = 0; i < messages; i++) socket.send(payload);
    if (!echoed) setTimeout(resolve, 2000);
  })
));
console.log(`echoed: rss=${rss()} ${await health()}`);
await settle();
console.log(`idle 3 s after: rss=${rss()} ${await health()}`);
await Promise.all(sockets.map((socket) =>
  new Promise<void>((resolve) => {
    socket.onclose = () => resolve();
    socket.close();
  })
));
await settle();
console.log(`closed: rss=${rss()} ${await health()}`);
