/**
 * Legitimate heavy work that the overload watch must not take for an attack
 * (issue #20's attack review: each of these recycled the listener, dropping
 * everyone): `/stream` clients that do not read, a ramp of idle
 * connections, `/sse` streams, and `/stream` readers that only listen. Each
 * load runs for `seconds` against a fresh service with the `deno task start`
 * flags and default settings; prints the incidents the watch counted and
 * whether any listen-only client was struck.
 *
 * @example
 * ```sh
 * deno run -A bench/overload_legit.ts 20
 * ```
 *
 * @module
 */
import type net from "node:net";
import { openFrom } from "./overload_attacks.ts";
import { startService } from "./service.ts";
import { readServiceLog } from "./service_log.ts";

const seconds = Number(Deno.args[0] ?? 20);

/** One load: opens its clients, returns how to close them. */
type Load = (port: number) => Promise<() => void>;

const loads: Record<string, Load> = {
  /** 300 `/stream` clients of 64 KiB messages that never read. */
  async stream_non_readers(port) {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const opened = await openFrom(port, `127.0.3.${1 + i % 250}`, {
        path: "/stream?count=100000&size=65536&interval=0",
        timeoutMs: 30_000,
      }).catch(() => undefined);
      if (opened) sockets.push(opened.socket);
    }
    return () => sockets.forEach((socket) => socket.destroy());
  },
  /** 100 `/stream` readers that only listen, 10 messages a second each. */
  async stream_listeners(port) {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const opened = await openFrom(port, `127.0.4.${1 + i}`, {
        path: "/stream?count=100000&size=1024&interval=100",
        timeoutMs: 30_000,
      }).catch(() => undefined);
      if (opened) {
        opened.socket.resume();
        sockets.push(opened.socket);
      }
    }
    return () => sockets.forEach((socket) => socket.destroy());
  },
  /** 2,000 idle WebSockets opened as fast as they are answered. */
  async idle_ramp(port) {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 2000; i++) {
      const opened = await openFrom(port, `127.0.5.${1 + i % 250}`, {
        timeoutMs: 30_000,
      }).catch(() => undefined);
      if (opened) sockets.push(opened.socket);
    }
    return () => sockets.forEach((socket) => socket.destroy());
  },
  /** 200 `/sse` streams, read. */
  async sse(port) {
    const readers: Array<ReadableStreamDefaultReader<Uint8Array>> = [];
    for (let i = 0; i < 200; i++) {
      const response = await fetch(`http://127.0.0.1:${port}/sse`);
      const reader = response.body!.getReader();
      readers.push(reader);
      (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done);
      })();
    }
    return () => readers.forEach((reader) => reader.cancel().catch(() => {}));
  },
};

for (const [name, load] of Object.entries(loads)) {
  const service = await startService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_FORMAT: "json",
  });
  const log = readServiceLog(service);
  const started = performance.now();
  const stop = await load(service.port);
  const opened = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  // Read before the clients go: a pooled /sse connection being cancelled
  // can take the next request down with it.
  const health = await (await fetch(
    `http://127.0.0.1:${service.port}/healthz`,
  )).json();
  stop();
  console.log(JSON.stringify({
    load: name,
    openedInMs: Math.round(opened),
    incidents: health.overload.incidents,
    suspectsRefused: health.overload.suspects.refused,
    lines: log.records.filter((record) => record.event === "overload_incident")
      .map((record) =>
        `${record.cause} ${record.action} d=${record.eventLoopDelayMs} cpu=${record.cpuPercent} struck=${record.struck}`
      ),
    loadAverage: Deno.loadavg()[0],
  }));
  await service[Symbol.asyncDispose]();
  await log.ended();
}
