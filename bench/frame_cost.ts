/**
 * What one unread frame costs the server beyond its payload: a bare Deno echo
 * in this process, a raw client that sends N frames and never reads, and the
 * growth of this process's RSS divided by N. Deno copies each send into a
 * task of its own that `bufferedAmount` does not count (ext/websocket
 * `send_binary`), so the service charges FRAME_COST_BYTES per frame
 * (lib/connection/echo_connection.ts).
 *
 *     deno run -A bench/frame_cost.ts [frames=200000] [payload bytes=0]
 *
 * @module
 */
import { clientFrame, openRawWebSocket, writeAll } from "./wire.ts";

const frames = Number(Deno.args[0] ?? 200_000);
const payload = Number(Deno.args[1] ?? 0);

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  },
);
const { conn } = await openRawWebSocket(server.addr.port);
const frame = clientFrame(0x2, new Uint8Array(payload));
const batch = new Uint8Array(frame.length * 1000);
for (let i = 0; i < 1000; i++) batch.set(frame, i * frame.length);

const before = Deno.memoryUsage().rss;
let sent = 0;
const started = Date.now();
while (sent < frames && Date.now() - started < 60_000) {
  await writeAll(conn, batch);
  sent += 1000;
}
// Let the server take in what is in flight before measuring.
await new Promise((resolve) => setTimeout(resolve, 2000));
const grown = Deno.memoryUsage().rss - before;
console.log(
  `${sent} unread frames of ${payload} bytes: RSS +${
    (grown / 2 ** 20).toFixed(1)
  } MiB, ${Math.round(grown / sent)} bytes per frame (${
    Math.round(grown / sent) - payload
  } beyond the payload)`,
);
conn.close();
await server.shutdown();
