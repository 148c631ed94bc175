/**
 * The service in a child process whose heap a test can weigh: run with
 * `--v8-flags=--expose-gc`, it listens on 127.0.0.1 port 0, prints the port
 * on one line, then answers each line on stdin with the bytes of live heap
 * after a full collection. Settings come from the environment, as for
 * `deno task start`.
 *
 * @module
 */
import { createApp } from "../routes/app.ts";
import { parseConfig } from "../lib/config.ts";
import { startServer } from "../lib/start/server.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new TypeError("Cannot weigh the heap: run with --expose-gc");
const echoApp = createApp(
  parseConfig({ ...Deno.env.toObject(), BIND_ADDRESS: "127.0.0.1", PORT: "0" }),
  { log: () => {} },
);
const server = startServer(echoApp);
console.log(server.addr.port);
for await (
  const _ of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  gc();
  console.log(Deno.memoryUsage().heapUsed);
}
await server.shutdown();
