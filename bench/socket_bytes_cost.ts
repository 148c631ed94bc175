/**
 * What reading the kernel's count costs the overload watch at an incident
 * (`lib/start/socket_bytes.ts`) with many connections open: N loopback TCP
 * connections to one listener (both ends in this process, so 2N
 * descriptors), then three readings, each timed as `ss` alone and as the
 * parse of its output. Usage: `deno run -A bench/socket_bytes_cost.ts
 * [N=9900]`.
 *
 * @module
 */
import {
  parseSocketBytes,
  SocketBytesReader,
} from "../lib/start/socket_bytes.ts";

const count = Number(Deno.args[0] ?? 9900);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const accepted: Deno.Conn[] = [];
const accepting = (async () => {
  for await (const conn of listener) accepted.push(conn);
})();
const clients: Deno.Conn[] = [];
for (let i = 0; i < count; i += 200) {
  clients.push(
    ...await Promise.all(
      Array.from(
        { length: Math.min(200, count - i) },
        () => Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      ),
    ),
  );
}
const deadline = performance.now() + 60_000;
while (accepted.length < count && performance.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
const port = listener.addr.port;
const load = Deno.loadavg()[0]!.toFixed(1);
console.log(`${accepted.length} connections open, load average ${load}`);
for (let round = 1; round <= 3; round++) {
  const started = performance.now();
  const output = new Deno.Command("ss", {
    args: ["-tinH", "state", "established", `( sport = :${port} )`],
    stdout: "piped",
  }).outputSync();
  const ranMs = performance.now() - started;
  const text = new TextDecoder().decode(output.stdout);
  const parsing = performance.now();
  const sockets = parseSocketBytes(text).bytes.size;
  const parsedMs = performance.now() - parsing;
  const whole = performance.now();
  const reading = await new SocketBytesReader(port, { timeoutMs: 30_000 })
    .read();
  console.log(
    `round ${round}: ss ${ranMs.toFixed(0)} ms (${
      (text.length / 1e6).toFixed(1)
    } MB), parse ${parsedMs.toFixed(0)} ms (${sockets} sockets), read() ${
      (performance.now() - whole).toFixed(0)
    } ms (${"bytes" in reading ? "ok" : reading.unavailable})`,
  );
}
for (const conn of [...clients, ...accepted]) conn.close();
listener.close();
await accepting.catch(() => {});
